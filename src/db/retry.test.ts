import { describe, expect, it } from 'vitest'
import { requestDbContext, type RequestDbContext } from './request-context.js'
import { retryOnFailover } from './retry.js'

const cut = () => Object.assign(new Error('Failed query: insert …'), { cause: Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }) })

describe('retryOnFailover', () => {
  it('repeats a write that failed for a failover\'s reason once, on fresh connections', async () => {
    const context: RequestDbContext = { retry: false, replica: false, minLsn: 0, usedPrimary: false }
    const seen: (boolean | undefined)[] = []
    const result = await requestDbContext.run(context, () => retryOnFailover(async () => {
      seen.push(context.fresh)
      if (seen.length === 1) throw cut()
      return 'created'
    }))
    expect(result).toBe('created')
    expect(seen).toEqual([undefined, true])
  })

  it('gives up after the second failure, and never repeats a write that failed otherwise or timed out', async () => {
    let runs = 0
    await expect(retryOnFailover(async () => { runs++; throw cut() })).rejects.toThrow('Failed query')
    expect(runs).toBe(2)
    for (const err of [Object.assign(new Error('duplicate'), { code: '23505' }), new Error('Query read timeout')]) {
      runs = 0
      await expect(retryOnFailover(async () => { runs++; throw err })).rejects.toBe(err)
      expect(runs).toBe(1)
    }
  })
})
