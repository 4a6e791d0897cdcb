import type { FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../test/helpers/app.js'
import { parseMetrics } from '../../test/helpers/metrics.js'

let t: TestApp | undefined
afterEach(async () => {
  await t?.close()
  t = undefined
})

// under-pressure samples once a second: poll (bounded) until the state the test needs is reached.
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await check()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting until ${what}`)
}

/** A test-only route that holds the event loop, as a runaway synchronous computation would. */
function addBlockingRoute(app: FastifyInstance): void {
  app.get('/test/block', { config: { loadShedding: false } }, async (request) => {
    const ms = Number((request.query as { ms?: string }).ms ?? 300)
    const end = performance.now() + ms
    while (performance.now() < end) { /* busy on purpose */ }
    return { blocked_ms: ms }
  })
}

const expectShed = (res: Awaited<ReturnType<FastifyInstance['inject']>>, retryAfter: string) => {
  expect(res.statusCode).toBe(503)
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  expect(res.headers['retry-after']).toBe(retryAfter)
  expect(res.json()).toEqual({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'The server is overloaded, retry shortly' })
}

describe('load shedding', () => {
  it('a blocked event loop: new requests get 503 + Retry-After, /healthz still answers, and it recovers', async () => {
    t = await buildTestApp({ SHED_MAX_EVENT_LOOP_DELAY_MS: '50', SHED_RETRY_AFTER_SECONDS: '7' }, { beforeReady: addBlockingRoute })
    const { app } = t
    expect((await app.inject({ url: '/api/v1/items' })).statusCode).toBe(401)

    let shed: Awaited<ReturnType<FastifyInstance['inject']>> | undefined
    await until(async () => {
      await app.inject({ url: '/test/block?ms=300' })
      const res = await app.inject({ url: '/api/v1/items' })
      if (res.statusCode === 503) shed = res
      return shed !== undefined
    }, 'a request is shed')
    expectShed(shed!, '7')
    const health = await app.inject({ url: '/healthz' })
    expect(health.statusCode).toBe(200)
    expect(health.json()).toEqual({ status: 'ok' })

    // The loop is free again: the next sample lifts the pressure.
    await until(async () => (await app.inject({ url: '/api/v1/items' })).statusCode === 401, 'requests are served again')
  }, 20_000)

  it.each([
    ['SHED_MAX_HEAP_USED_MB', 'heap'],
    ['SHED_MAX_RSS_MB', 'rss'],
  ])('past %s every request but /healthz is refused, before authentication and rate limits', async (variable, limit) => {
    // 1 MiB: any process is past it from the first sample on.
    t = await buildTestApp({ [variable]: '1', SHED_RETRY_AFTER_SECONDS: '3', METRICS_PORT: '18102' })
    const { app } = t
    await until(async () => (await app.inject({ url: '/api/v1/items' })).statusCode === 503, 'a request is shed')
    const shedBefore = parseMetrics(await app.metrics!.render()).get(`keel_load_shed_total{limit="${limit}"}`)!
    expectShed(await app.inject({ url: '/api/v1/items' }), '3')
    expectShed(await app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: 'a@example.com', password: 'x' } }), '3')
    expectShed(await app.inject({ url: '/readyz' }), '3')
    expect((await app.inject({ url: '/healthz' })).statusCode).toBe(200)
    // Each refusal is counted once, under the limit that caused it.
    const metrics = parseMetrics(await app.metrics!.render())
    expect(metrics.get(`keel_load_shed_total{limit="${limit}"}`)! - shedBefore).toBe(3)
    expect(metrics.get('keel_load_shed_total{limit="event_loop_delay"}')).toBe(0)
  }, 20_000)

  it('is off with every limit at 0', async () => {
    t = await buildTestApp({ SHED_MAX_EVENT_LOOP_DELAY_MS: '0' }, { beforeReady: addBlockingRoute })
    // Past at least one sample (1 s) of a loop as blocked as in the first test: nothing is refused.
    for (let i = 0; i < 5; i++) {
      await t.app.inject({ url: '/test/block?ms=300' })
      expect((await t.app.inject({ url: '/api/v1/items' })).statusCode).toBe(401)
    }
  })
})
