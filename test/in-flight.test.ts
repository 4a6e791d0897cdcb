import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { inFlightPlugin } from '../src/plugins/in-flight.js'

describe('waitForHandlers', () => {
  it('waits for a handler whose client is gone, and resolves at once when idle', async () => {
    const app = Fastify()
    await app.register(inFlightPlugin)
    let release!: () => void
    const finished: string[] = []
    app.get('/slow', async () => {
      await new Promise<void>((resolve) => { release = resolve })
      finished.push('handler')
      return { ok: true }
    })
    await app.ready()
    await app.waitForHandlers(1_000)
    const pending = app.inject('/slow')
    await new Promise((resolve) => setImmediate(resolve))
    const waited = app.waitForHandlers(5_000).then(() => finished.push('waited'))
    release()
    await waited
    expect(finished).toEqual(['handler', 'waited'])
    expect((await pending).json()).toEqual({ ok: true })
  })
})
