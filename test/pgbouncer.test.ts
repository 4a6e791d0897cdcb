import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPgBouncer, findPgBouncer, type PgBouncer } from '../scripts/scale/pgbouncer.js'
import { freePortIn } from '../scripts/scale/ports.js'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { createDatabase, type Database } from '../src/db/client.js'
import { createMigrator } from '../src/db/migrator.js'
import { createUsersService } from '../src/modules/users/users.service.js'
import { createTestDatabase, serverUrl } from './helpers/database.js'
import { authHeaders, createUser, login } from './helpers/factories.js'

// SPEC §7: Keel through PgBouncer 1.18 in pool_mode = transaction, a real one started here. The embedded engine
// has no pooler to test, so this file needs TEST_DATABASE_URL; in CI a missing pgbouncer is a failure.
const installed = findPgBouncer() !== undefined
const skipReason = !serverUrl ? 'needs TEST_DATABASE_URL (a PostgreSQL server to put PgBouncer in front of)'
  : !installed && process.env.CI !== 'true' ? 'pgbouncer is not installed (apt-get install -y pgbouncer)' : undefined

const config = (env: Record<string, string> = {}) => loadConfig({
  NODE_ENV: 'test', SECRET_KEY: 'test-secret-key-that-is-long-enough-0123456789', BCRYPT_ROUNDS: '4',
  LOG_LEVEL: 'silent', RATE_LIMIT_PER_MINUTE: '100000', LOGIN_RATE_LIMIT_PER_MINUTE: '100000', ...env,
})

describe.skipIf(skipReason)(`through PgBouncer in transaction mode${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let bouncer: PgBouncer
  let direct: string
  let pooled: string
  let drop: () => Promise<void>
  const opened: Database[] = []
  const apps: FastifyInstance[] = []

  const open = async (options: { url?: string; listenUrl?: string; pooler?: 'session' | 'transaction' } = {}) => {
    const database = await createDatabase({
      databaseUrl: options.url ?? pooled, pooler: options.pooler ?? 'transaction', listenUrl: options.listenUrl ?? direct, poolSize: 10,
    })
    opened.push(database)
    return database
  }
  const app = async (database: Database) => {
    const built = await buildApp({ config: config(), database, logger: pino({ level: 'silent' }) })
    apps.push(built)
    await built.ready()
    return built
  }

  beforeAll(async () => {
    const test = await createTestDatabase()
    direct = test.url!
    drop = test.drop
    // Fewer server connections than the app's pool: transactions from one client really do share servers.
    bouncer = createPgBouncer({ port: await freePortIn(18300, 18399), upstream: serverUrl!, poolMode: 'transaction', poolSize: 4 })
    await bouncer.start()
    pooled = bouncer.url(new URL(direct).pathname.slice(1))
  })
  afterAll(async () => {
    for (const a of apps) await a.close()
    for (const d of opened) await d.close()
    await bouncer?.stop()
    await drop?.()
  })

  it('migrations: three migrators at once through the pooler apply every migration exactly once', async () => {
    const migrators = await Promise.all([open(), open(), open()]).then((dbs) => dbs.map((d) => createMigrator(d)))
    const applied = await Promise.all(migrators.map((m) => m.migrate()))
    const all = applied.flat().sort((a, b) => a - b)
    expect(all.length).toBeGreaterThan(0)
    expect(new Set(all).size).toBe(all.length)
    expect((await migrators[0]!.status()).every((m) => m.applied)).toBe(true)
  })

  it('the first superuser: three instances starting together create exactly one', async () => {
    const databases = await Promise.all([open(), open(), open()])
    const created = await Promise.all(databases.map((d) => createUsersService(d.db, config()).ensureSuperuser('root@example.com', 'root password')))
    expect(created.filter(Boolean)).toHaveLength(1)
  })

  describe('the API', () => {
    let api: FastifyInstance
    beforeAll(async () => { api = await app(await open()) })

    it('60 concurrent authenticated reads and writes of three users: every answer 2xx, every write read back', async () => {
      const users = await Promise.all([createUser(api), createUser(api), createUser(api)])
      const answers = await Promise.all(Array.from({ length: 60 }, (_, i) => {
        const user = users[i % users.length]!
        return i % 3 === 0
          ? api.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: `item ${i}` } })
          : api.inject({ url: i % 3 === 1 ? '/api/v1/items?limit=5&sort=-id' : '/api/v1/users/me', headers: user.headers })
      }))
      expect(answers.filter((a) => a.statusCode >= 300).map((a) => `${a.statusCode} ${a.body}`)).toEqual([])
      const created = answers.filter((a) => a.statusCode === 201).map((a) => a.json<{ id: number; owner_id: number }>())
      expect(created).toHaveLength(20)
      const readBack = await Promise.all(created.map((item) => {
        const owner = users.find((u) => u.id === item.owner_id)!
        return api.inject({ url: `/api/v1/items/${item.id}`, headers: owner.headers })
      }))
      expect(readBack.map((a) => a.statusCode)).toEqual(Array<number>(20).fill(200))
    })

    it('refresh rotation and reuse detection', async () => {
      const user = await createUser(api)
      const refresh = (refresh_token: string) => api.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token } })
      const rotated = await refresh(user.refreshToken)
      expect(rotated.statusCode).toBe(200)
      const next = rotated.json<{ refresh_token: string; access_token: string }>()
      expect((await refresh(user.refreshToken)).statusCode).toBe(401) // reuse: every token of the user dies
      expect((await refresh(next.refresh_token)).statusCode).toBe(401)
      expect((await api.inject({ url: '/api/v1/users/me', headers: authHeaders((await login(api, user.email, user.password)).accessToken) })).statusCode).toBe(200)
    })

    it('Idempotency-Key: 10 concurrent POSTs with one key on two instances make one row; the others replay it or get 409', async () => {
      const second = await app(await open())
      const user = await createUser(api)
      const answers = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 ? second : api).inject({
        method: 'POST', url: '/api/v1/items', headers: { ...user.headers, 'idempotency-key': 'through-the-pooler' }, payload: { name: 'once' },
      })))
      expect(answers.map((a) => a.statusCode).filter((s) => s !== 201 && s !== 409)).toEqual([])
      expect(answers.filter((a) => a.statusCode === 201 && !a.headers['idempotent-replayed'])).toHaveLength(1)
      expect((await api.inject({ url: '/api/v1/items', headers: user.headers })).json()).toMatchObject({ total: 1 })
      const replay = await second.inject({
        method: 'POST', url: '/api/v1/items', headers: { ...user.headers, 'idempotency-key': 'through-the-pooler' }, payload: { name: 'once' },
      })
      expect([replay.statusCode, replay.headers['idempotent-replayed']]).toEqual([201, 'true'])
    })

    it('the advisory lock withIdempotency takes is held by its transaction through the pooler, and only until it ends', async () => {
      const [a, b] = [await open(), await open()]
      const tryLock = (db: Database['db']) => db.execute(sql`select pg_try_advisory_xact_lock(1, 2) as locked`)
        .then((r) => (r as unknown as { rows: { locked: boolean }[] }).rows[0]!.locked)
      const seen: boolean[] = []
      await a.db.transaction(async (tx) => {
        seen.push(await tryLock(tx as unknown as Database['db']))
        // Another transaction through the same pooler (on another server connection: an open transaction keeps its
        // own): the lock is taken. After the first one ends, it is free again, whichever server connection is next.
        seen.push(await b.db.transaction(async (other) => tryLock(other as unknown as Database['db'])))
        seen.push(await tryLock(tx as unknown as Database['db']))
      })
      seen.push(await b.db.transaction(async (other) => tryLock(other as unknown as Database['db'])))
      expect(seen).toEqual([true, false, true, true])
    })

    it('with DATABASE_LISTEN_URL direct, the user cache is on and /readyz says so', async () => {
      const ready = await api.inject('/readyz')
      expect(ready.statusCode).toBe(200)
      expect(ready.json()).toEqual({ status: 'ok', user_cache: 'active', listen: 'listening' })
    })
  })

  it('LISTEN through the transaction pooler is not trusted: the cache is bypassed and /readyz says so', async () => {
    const api = await app(await open({ listenUrl: pooled }))
    const ready = await api.inject('/readyz')
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toEqual({ status: 'ok', user_cache: 'bypassed', listen: 'silent' })
    // Bypassed for real: a change made behind this instance's back (another instance) is seen at once.
    const other = await app(await open())
    const user = await createUser(api)
    expect((await api.inject({ url: '/api/v1/users/me', headers: user.headers })).statusCode).toBe(200)
    const admin = await createUser(other, { superuser: true, database: opened[opened.length - 1]! })
    expect((await other.inject({ method: 'DELETE', url: `/api/v1/users/${user.id}`, headers: admin.headers })).statusCode).toBe(204)
    expect((await api.inject({ url: '/api/v1/users/me', headers: user.headers })).statusCode).toBe(401)
  })

  it('an unreachable DATABASE_LISTEN_URL: still ready, the cache bypassed, /readyz says connecting', async () => {
    const api = await app(await open({ listenUrl: 'postgres://postgres@127.0.0.1:9/nothing' }))
    const ready = await api.inject('/readyz')
    expect(ready.statusCode).toBe(200)
    expect(ready.json()).toEqual({ status: 'ok', user_cache: 'bypassed', listen: 'connecting' })
  })

  it('without DATABASE_POOLER=transaction, the same reads fail (what the pooler setting prevents)', async () => {
    const api = await app(await open({ pooler: 'session' }))
    const user = await createUser(await app(await open())) // signing up might already fail on the session-mode app
    const answers = await Promise.all(Array.from({ length: 40 }, () => api.inject({ url: '/api/v1/items', headers: user.headers })))
    expect(answers.some((a) => a.statusCode >= 500)).toBe(true)
  })
})
