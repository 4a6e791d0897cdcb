import { randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import { sql } from 'drizzle-orm'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { serverUrl } from '../../../test/helpers/database.js'
import { createUser } from '../../../test/helpers/factories.js'
import { parseMetrics, promtoolCheck, promtoolMissingOutsideCi } from '../../../test/helpers/metrics.js'
import { startMetricsServer } from './metrics-server.js'

let t: TestApp
const scrape = async () => parseMetrics(await t.app.metrics!.render())
const requests = (method: string, route: string, statusClass: string) => `{method="${method}",route="${route}",status_class="${statusClass}"}`

beforeAll(async () => {
  t = await buildTestApp({ METRICS_PORT: '18101' })
})
afterAll(async () => t.close())

describe('GET /metrics', () => {
  it('counts exactly the requests sent, by method, route pattern and status class, in histograms', async () => {
    const before = await scrape()
    for (let i = 0; i < 3; i++) expect((await t.app.inject({ url: '/healthz' })).statusCode).toBe(200)
    for (let i = 0; i < 2; i++) expect((await t.app.inject({ url: `/api/v1/items/${i + 1}` })).statusCode).toBe(401)
    const after = await scrape()
    const delta = (series: string) => (after.get(series) ?? 0) - (before.get(series) ?? 0)

    expect(delta(`http_requests_total${requests('GET', '/healthz', '2xx')}`)).toBe(3)
    expect(delta(`http_request_duration_seconds_count${requests('GET', '/healthz', '2xx')}`)).toBe(3)
    expect(delta(`http_request_duration_seconds_bucket{le="+Inf",method="GET",route="/healthz",status_class="2xx"}`)).toBe(3)
    // The pattern, never the raw URL: both ids share one series.
    expect(delta(`http_requests_total${requests('GET', '/api/v1/items/:id', '4xx')}`)).toBe(2)
    expect([...after.keys()].some((s) => s.includes('/api/v1/items/1'))).toBe(false)
    // The scrape itself is no request of the API; nothing else is in flight.
    expect(after.get('http_requests_in_flight')).toBe(0)
  })

  it('puts every unknown path under one label: 1,000 random URLs add no series', async () => {
    // One of each method first: the series of unknown routes exist from then on, and never grow.
    for (const method of ['GET', 'POST'] as const) await t.app.inject({ method, url: `/no-such-${randomUUID()}` })
    const before = await scrape()
    for (let i = 0; i < 1000; i++) {
      const res = await t.app.inject({ method: i % 2 ? 'GET' : 'POST', url: `/${randomUUID()}/${i}?q=${i}` })
      expect(res.statusCode).toBe(404)
    }
    const after = await scrape()
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort())
    const unmatched = (method: string) => (after.get(`http_requests_total${requests(method, 'unmatched', '4xx')}`) ?? 0)
      - (before.get(`http_requests_total${requests(method, 'unmatched', '4xx')}`) ?? 0)
    expect(unmatched('GET') + unmatched('POST')).toBe(1000)
  })

  it('counts user-cache misses, hits and invalidations', async () => {
    const user = await createUser(t.app)
    const before = await scrape()
    expect((await t.app.inject({ url: '/api/v1/users/me', headers: user.headers })).statusCode).toBe(200)
    expect((await t.app.inject({ url: '/api/v1/users/me', headers: user.headers })).statusCode).toBe(200)
    const changed = await t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: user.headers, payload: { full_name: 'Changed' } })
    expect(changed.statusCode).toBe(200)
    const after = await scrape()
    const delta = (series: string) => (after.get(series) ?? 0) - (before.get(series) ?? 0)

    // First read misses and fills the cache, the second hits it; the PATCH authenticates from the cache too.
    expect(delta('keel_user_cache_misses_total')).toBe(1)
    expect(delta('keel_user_cache_hits_total')).toBe(2)
    expect(delta('keel_user_cache_invalidations_total')).toBeGreaterThanOrEqual(1)
  })

  it.skipIf(!serverUrl)('reports the PostgreSQL pool', async () => {
    const metrics = await scrape()
    expect(metrics.get('keel_db_pool_connections')).toBeGreaterThanOrEqual(1)
    expect(metrics.get('keel_db_pool_idle_connections')).toBeGreaterThanOrEqual(0)
    expect(metrics.get('keel_db_pool_waiting_requests')).toBe(0)
  })

  it('has the process and event-loop figures', async () => {
    const metrics = await scrape()
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_utilization_ratio']) {
      expect(metrics.has(name), name).toBe(true)
    }
  })

  it.skipIf(promtoolMissingOutsideCi)('passes `promtool check metrics` (skipped outside CI when promtool is not installed)', async () => {
    const check = promtoolCheck(await t.app.metrics!.render())
    expect(check, 'promtool is not installed: .ci/run installs Debian\'s prometheus package').toBeDefined()
    expect(check!.output).toBe('')
    expect(check!.status).toBe(0)
  })

  it('is not served on the public port', async () => {
    const res = await t.app.inject({ url: '/metrics' })
    expect(res.statusCode).toBe(404)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  })
})

describe('login metrics', () => {
  it('counts login outcomes and rate-limit rejections', async () => {
    const limited = await buildTestApp({ METRICS_PORT: '18101', LOGIN_RATE_LIMIT_PER_MINUTE: '3' })
    try {
      const { app } = limited
      const signUp = async () => {
        const credentials = { email: `login-${randomUUID()}@example.com`, password: `pw-${randomUUID()}` }
        const res = await app.inject({ method: 'POST', url: '/api/v1/users', payload: credentials })
        expect(res.statusCode).toBe(201)
        return { ...credentials, id: res.json<{ id: number }>().id }
      }
      const user = await signUp()
      const disabled = await signUp()
      await limited.database.db.execute(sql`UPDATE users SET is_active = false WHERE id = ${disabled.id}`)
      const login = async (email: string, password: string) =>
        (await app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email, password } })).statusCode
      const metrics = async () => parseMetrics(await app.metrics!.render())

      expect(await login(user.email, user.password)).toBe(200)
      expect(await login(user.email, 'wrong-password')).toBe(401)
      expect(await login(disabled.email, disabled.password)).toBe(403)
      // The fourth attempt from this client IP within the minute is over the limit of 3.
      expect(await login(user.email, user.password)).toBe(429)
      const after = await metrics()

      expect(after.get('keel_login_attempts_total{outcome="success"}')).toBe(1)
      expect(after.get('keel_login_attempts_total{outcome="bad_credentials"}')).toBe(1)
      expect(after.get('keel_login_attempts_total{outcome="locked"}')).toBe(1)
      expect(after.get('keel_login_attempts_total{outcome="rate_limited"}')).toBe(1)
      expect(after.get('keel_rate_limit_rejections_total')).toBe(1)
    } finally {
      await limited.close()
    }
  })
})

describe('the metrics listener', () => {
  let server: Server
  let base: string
  beforeAll(async () => {
    server = await startMetricsServer('127.0.0.1', 0, t.app.metrics!, pino({ level: 'silent' }))
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it('serves GET /metrics in the Prometheus text format', async () => {
    const res = await fetch(`${base}/metrics`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    expect(await res.text()).toMatch(/^# HELP /m)
  })

  it('answers 404 to any other path or method', async () => {
    expect((await fetch(`${base}/`)).status).toBe(404)
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(404)
  })
})

describe('with METRICS_PORT unset', () => {
  it('has no metrics at all', async () => {
    const plain = await buildTestApp()
    try {
      expect(plain.app.metrics).toBeUndefined()
    } finally {
      await plain.close()
    }
  })
})

describe('http_requests_in_flight', () => {
  it('counts a request until it ends, also when its client hung up before the answer', async () => {
    let release!: () => void
    const handlerDone = new Promise<void>((resolve) => { release = resolve })
    let entered!: () => void
    const handlerEntered = new Promise<void>((resolve) => { entered = resolve })
    const slow = await buildTestApp({ METRICS_PORT: '18103' }, {
      beforeReady: (app) => {
        app.get('/test/slow', async () => {
          entered()
          await handlerDone
          return { ok: true }
        })
      },
    })
    try {
      await slow.app.listen({ host: '127.0.0.1', port: 0 })
      const { port } = slow.app.server.address() as { port: number }
      const inFlight = async () => parseMetrics(await slow.app.metrics!.render()).get('http_requests_in_flight')
      const { request } = await import('node:http')
      const client = request({ host: '127.0.0.1', port, path: '/test/slow' })
      client.on('error', () => { /* the test hangs up on purpose */ })
      client.end()
      await handlerEntered
      expect(await inFlight()).toBe(1)
      client.destroy()
      // The server sees the hang-up on its socket; the handler is still running.
      for (let i = 0; i < 100 && (await inFlight()) !== 0; i++) await new Promise((r) => setTimeout(r, 20))
      expect(await inFlight()).toBe(0)
      release()
    } finally {
      release()
      await slow.close()
    }
  })
})
