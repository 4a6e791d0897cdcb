import { randomUUID } from 'node:crypto'
import type { LightMyRequestResponse } from 'fastify'
import { createServer, connect, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../src/app.js'
import { createDatabase } from '../src/db/client.js'
import { loadConfig } from '../src/config.js'
import { buildTestApp, type TestApp } from './helpers/app.js'
import { createUser, uniqueEmail } from './helpers/factories.js'
import { createTestDatabase, serverUrl } from './helpers/database.js'
import { expectProblem } from './helpers/http.js'

const testConfig = (env: Record<string, string> = {}) => loadConfig({
  NODE_ENV: 'test', SECRET_KEY: 'test-secret-key-that-is-long-enough-0123456789', BCRYPT_ROUNDS: '4', LOG_LEVEL: 'silent', ...env,
})

describe('a database that cannot be reached', () => {
  it('answers 503 with Retry-After within 2 s, never 500', async () => {
    // Nothing listens on port 9 (discard) here: every connection is refused.
    const database = await createDatabase({ databaseUrl: 'postgres://postgres@127.0.0.1:9/none' })
    const app = await buildApp({ config: testConfig(), database, logger: pino({ level: 'silent' }) })
    await app.ready()
    try {
      const timed = async (run: () => Promise<LightMyRequestResponse>) => {
        const started = Date.now()
        const res = await run()
        expect(Date.now() - started).toBeLessThan(2_000)
        return res
      }
      const ready = await timed(() => app.inject('/readyz'))
      expectProblem(ready, 503)
      expect(ready.headers['retry-after']).toBe('5')
      expectProblem(await timed(() => app.inject({ method: 'POST', url: '/api/v1/users', payload: { email: 'a@example.com', password: 'long-enough' } })), 503)
      expect((await app.inject('/healthz')).statusCode).toBe(200)
    } finally {
      await app.close()
      await database.close()
    }
  })
})

/**
 * A TCP proxy in front of PostgreSQL that the test can cut and restore, like a network outage, or stall: connections
 * stay open and are accepted, but nothing is forwarded any more, like a server that hangs.
 */
async function startProxy(target: URL): Promise<{ port: number; cut(): Promise<void>; stall(): void; restore(): Promise<void>; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  let server: Server
  let port = 0
  let stalled = false
  const listen = async () => {
    stalled = false
    server = createServer((client) => {
      const upstream = connect(Number(target.port || 5432), target.hostname)
      for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => s.destroy()) }
      client.on('data', (chunk) => { if (!stalled) upstream.write(chunk) })
      upstream.on('data', (chunk) => { if (!stalled) client.write(chunk) })
    })
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as { port: number }).port
  }
  const cut = async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  }
  const stall = () => { stalled = true }
  await listen()
  return { port, cut, stall, restore: async () => { await cut(); await listen() }, close: cut }
}

describe.skipIf(!serverUrl)('PostgreSQL going away and coming back', () => {
  let t: TestApp
  let proxy: Awaited<ReturnType<typeof startProxy>>
  let drop: () => Promise<void>
  beforeAll(async () => {
    const fresh = await createTestDatabase()
    const { createMigrator } = await import('../src/db/migrator.js')
    await createMigrator(fresh.database).migrate()
    await fresh.database.close()
    drop = async () => fresh.drop().catch(() => undefined)
    const url = new URL(fresh.url!)
    proxy = await startProxy(url)
    const proxied = new URL(url)
    proxied.port = String(proxy.port)
    const database = await createDatabase({ databaseUrl: proxied.toString(), poolSize: 4 })
    const app = await buildApp({ config: testConfig(), database, logger: pino({ level: 'silent' }) })
    t = { app, config: testConfig(), database, close: async () => { await app.close(); await database.close() } } as TestApp
  })
  afterAll(async () => {
    await t.close()
    await proxy.close().catch(() => undefined)
    await drop()
  })

  /** Asks for the items until they are served again, for at most 5 s: the pool recovers by itself. */
  const statusOnceServing = async (headers: Record<string, string>) => {
    let status = 0
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = (await t.app.inject({ url: '/api/v1/items', headers })).statusCode
      if (status !== 200) await new Promise((r) => setTimeout(r, 100))
    }
    return status
  }

  it('answers 503 during the outage and recovers by itself', async () => {
    const user = await createUser(t.app)
    await proxy.cut()
    const started = Date.now()
    expectProblem(await t.app.inject({ url: '/api/v1/items', headers: user.headers }), 503)
    expectProblem(await t.app.inject('/readyz'), 503)
    expect(Date.now() - started).toBeLessThan(4_000)
    await proxy.restore()
    expect(await statusOnceServing(user.headers)).toBe(200)
  })

  it('answers 503 within 2 s while PostgreSQL hangs, more requests than connections included, and recovers', async () => {
    const user = await createUser(t.app)
    proxy.stall()
    const started = Date.now()
    // Six requests on a pool of four: two wait for a connection that never comes back.
    const answers = await Promise.all(Array.from({ length: 6 }, () => t.app.inject({ url: '/api/v1/items', headers: user.headers })))
    expect(Date.now() - started).toBeLessThan(2_000)
    for (const res of answers) expectProblem(res, 503)
    await proxy.restore()
    expect(await statusOnceServing(user.headers)).toBe(200)
  })
})

describe('Redis for rate limits', () => {
  let t: TestApp
  beforeAll(async () => { t = await buildTestApp({ REDIS_URL: 'redis://127.0.0.1:9', RATE_LIMIT_PER_MINUTE: '3' }) })
  afterAll(async () => t.close())

  it('falls back to in-process counters when Redis is unreachable, still answering 429', async () => {
    const statuses = []
    for (let i = 0; i < 4; i++) statuses.push((await t.app.inject({ url: '/api/v1/users/me', remoteAddress: '10.1.1.1' })).statusCode)
    expect(statuses).toEqual([401, 401, 401, 429])
  })
})

describe('behind a proxy (TRUST_PROXY=10.0.0.1)', () => {
  let t: TestApp
  beforeAll(async () => { t = await buildTestApp({ RATE_LIMIT_PER_MINUTE: '2', TRUST_PROXY: '10.0.0.1' }) })
  afterAll(async () => t.close())

  it('limits by the address the proxy saw, whatever a client forges in front of it', async () => {
    const statuses = []
    for (const forged of ['1.1.1.1', '2.2.2.2', '3.3.3.3']) {
      const res = await t.app.inject({ url: '/nope', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': `${forged}, 203.0.113.7` } })
      statuses.push(res.statusCode)
    }
    expect(statuses).toEqual([404, 404, 429])
    expect((await t.app.inject({ url: '/nope', remoteAddress: '10.0.0.1', headers: { 'x-forwarded-for': '203.0.113.8' } })).statusCode).toBe(404)
  })
})

describe('global rate limit', () => {
  let t: TestApp
  beforeAll(async () => { t = await buildTestApp({ RATE_LIMIT_PER_MINUTE: '2' }) })
  afterAll(async () => t.close())

  it('429 with Retry-After and RateLimit-* headers past the limit; health is exempt', async () => {
    const ok = await t.app.inject({ url: '/nope', remoteAddress: '10.2.2.2' })
    expect(ok.headers['ratelimit-limit']).toBe('2')
    expect(ok.headers['ratelimit-remaining']).toBe('1')
    await t.app.inject({ url: '/nope', remoteAddress: '10.2.2.2' })
    const limited = await t.app.inject({ url: '/api/v1/items', remoteAddress: '10.2.2.2' })
    expectProblem(limited, 429)
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0)
    expect(limited.headers['ratelimit-reset']).toBeDefined()
    expect((await t.app.inject({ url: '/api/v1/items', remoteAddress: '10.3.3.3' })).statusCode).toBe(401)
    expect((await t.app.inject({ url: '/healthz', remoteAddress: '10.2.2.2' })).statusCode).toBe(200)
  })
})

const redisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
async function redisReachable(): Promise<boolean> {
  const { Redis } = await import('ioredis')
  const client = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 500, retryStrategy: () => null })
  try {
    await client.connect()
    return (await client.ping()) === 'PONG'
  } catch {
    return false
  } finally {
    client.disconnect()
  }
}
const hasRedis = await redisReachable()

describe.skipIf(!hasRedis && process.env.CI !== 'true')('Redis shared by two instances', () => {
  let a: TestApp
  let b: TestApp
  beforeAll(async () => {
    a = await buildTestApp({ REDIS_URL: redisUrl, RATE_LIMIT_PER_MINUTE: '4', LOGIN_RATE_LIMIT_PER_MINUTE: '3' })
    b = await buildTestApp({ REDIS_URL: redisUrl, RATE_LIMIT_PER_MINUTE: '4', LOGIN_RATE_LIMIT_PER_MINUTE: '3' })
  })
  afterAll(async () => { await a.close(); await b.close() })

  it('counts one client across both instances', async () => {
    const ip = `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}`
    const statuses = []
    for (const t of [a, b, a, b, a]) statuses.push((await t.app.inject({ url: '/nope', remoteAddress: ip })).statusCode)
    expect(statuses).toEqual([404, 404, 404, 404, 429])
  })

  it('counts login attempts for one email across both instances', async () => {
    // A fresh email and a fresh client address per attempt: only the per-email login counter can add up. The
    // addresses differ in their first 56 bits: the global limit counts an IPv6 client by its /56, in Redis, across runs.
    const email = uniqueEmail('shared-login')
    const hex = () => randomUUID().slice(0, 4)
    const responses = []
    for (const t of [a, b, a, b]) {
      const remoteAddress = `fd${hex().slice(0, 2)}:${hex()}:${hex()}:${hex()}::1`
      responses.push(await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email, password: 'wrong-password' }, remoteAddress }))
    }
    expect(responses.map((r) => r.statusCode)).toEqual([401, 401, 401, 429])
    expect(expectProblem(responses[3]!, 429).detail).toBe('Too many login attempts, retry later')
  })
})
