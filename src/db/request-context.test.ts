import { describe, expect, it } from 'vitest'
import { onPrimary, requestDbContext, type RequestDbContext } from './request-context.js'

describe('onPrimary', () => {
  const context = (): RequestDbContext => ({ retry: true, replica: true, minLsn: 0, usedPrimary: false })

  it('runs a lookup of a replica-routed request on the primary, and leaves the request routed as it was', async () => {
    const request = context()
    const seen = await requestDbContext.run(request, () => onPrimary(async () => requestDbContext.getStore()!.replica))
    expect(seen).toBe(false)
    expect(request.replica).toBe(true)
  })

  it('changes nothing outside a request or on one already on the primary', async () => {
    expect(await onPrimary(async () => requestDbContext.getStore())).toBeUndefined()
    const primary = { ...context(), replica: false }
    expect(await requestDbContext.run(primary, () => onPrimary(async () => requestDbContext.getStore()))).toBe(primary)
  })
})
