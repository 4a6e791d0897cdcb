import { once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'
import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import pg from 'pg'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { createDatabase, type Database } from '../src/db/client.js'
import { createMigrator } from '../src/db/migrator.js'
import type { AuthUser } from '../src/plugins/auth.js'
import { createTestDatabase, serverUrl } from './helpers/database.js'
import { createUser } from './helpers/factories.js'
import { expectProblem } from './helpers/http.js'

const testConfig = (env: Record<string, string> = {}) => loadConfig({
  NODE_ENV: 'test', SECRET_KEY: 'test-secret-key-that-is-long-enough-0123456789', BCRYPT_ROUNDS: '4', LOG_LEVEL: 'silent', ...env,
})

/** Log lines as objects, for assertions on what an outage logs. */
function capturingLogger() {
  const lines: Record<string, unknown>[] = []
  const logger = pino({ level: 'debug' }, { write: (line: string) => { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  return { logger, lines }
}

// Failover symptoms on a real server: a standby answering 25006, a connection terminated under a query (57P01).
describe.runIf(serverUrl)('failover symptoms on PostgreSQL', () => {
  let fresh: Awaited<ReturnType<typeof createTestDatabase>>
  let database: Database
  let app: FastifyInstance
  let name: string
  const { logger, lines } = capturingLogger()
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: serverUrl })
    await client.connect()
    try { await client.query(statement) } finally { await client.end() }
  }

  beforeAll(async () => {
    fresh = await createTestDatabase()
    await createMigrator(fresh.database).migrate()
    name = new URL(fresh.url!).pathname.slice(1)
    // One connection: whatever the pool keeps is what the next request gets.
    database = await createDatabase({ databaseUrl: fresh.url, poolSize: 1, logger })
    await database.db.execute(sql`create sequence failover_attempts`)
    app = await buildApp({ config: testConfig(), database, logger })
    app.get('/test/terminated-once', async () => {
      // Its first run kills its own connection, as a failover does to a query in flight.
      const result = await database.db.execute(sql`select case when nextval('failover_attempts') % 2 = 1
        then pg_terminate_backend(pg_backend_pid()) else true end as ok`)
      return { ok: (result as unknown as { rows: { ok: boolean }[] }).rows[0]!.ok }
    })
    app.post('/test/terminated-once', async () => {
      // Not a plain SELECT (a WITH may write): the router cannot tell it changed nothing, so it does not repeat it.
      await database.db.execute(sql`with attempt as (select nextval('failover_attempts') as n)
        select case when n % 2 = 1 then pg_terminate_backend(pg_backend_pid()) else true end as ok from attempt`)
      return { ok: true }
    })
    app.post('/test/transaction', async () => {
      await database.db.transaction(async (tx) => tx.execute(sql`create temporary table t (id int) on commit drop`))
      return { ok: true }
    })
    await app.ready()
  })
  afterAll(async () => {
    await app.close()
    await database.close()
    await admin(`ALTER DATABASE ${name} RESET default_transaction_read_only`).catch(() => undefined)
    await fresh.drop()
  })

  it('a read whose connection is terminated under it is retried once on a new connection and served', async () => {
    const res = await app.inject({ url: '/test/terminated-once' })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toEqual({ ok: true })
  })

  it('a write whose connection is terminated answers 503 with Retry-After, and the next one is served', async () => {
    const res = await app.inject({ method: 'POST', url: '/test/terminated-once' })
    expectProblem(res, 503)
    expect(res.headers['retry-after']).toBe('5')
    expect((await app.inject({ method: 'POST', url: '/test/terminated-once' })).statusCode).toBe(200)
  })

  it('a read-only server (25006) answers 503, and its connection is not reused once the primary is writable', async () => {
    // New connections to this database are read-only, like connections reaching a standby after a failover.
    await admin(`ALTER DATABASE ${name} SET default_transaction_read_only = on`)
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`)
    // The first may meet the terminated connection; the second surely a new, read-only one.
    for (let i = 0; i < 2; i++) expectProblem(await app.inject({ method: 'POST', url: '/test/transaction' }), 503)
    await admin(`ALTER DATABASE ${name} RESET default_transaction_read_only`)
    // The pool's one connection saw 25006 inside a transaction: kept, it would refuse every write until a restart.
    expect((await app.inject({ method: 'POST', url: '/test/transaction' })).statusCode).toBe(200)
  })

  it('a create with an Idempotency-Key whose connection is cut is retried once, on a new connection: 201, one row', async () => {
    const user = await createUser(app)
    // The first insert of each pair kills its own connection in the middle of the transaction, as a failover does.
    await database.db.execute(sql.raw(`create sequence cut_inserts;
      create function cut_first_insert() returns trigger language plpgsql as $$ begin
        if nextval('cut_inserts') % 2 = 1 then perform pg_terminate_backend(pg_backend_pid()); end if;
        return new;
      end $$;
      create trigger cut_first_insert before insert on items for each row execute function cut_first_insert()`))
    try {
      const post = (headers: Record<string, string>) => app.inject({ method: 'POST', url: '/api/v1/items', headers, payload: { name: 'once' } })
      const keyed = await post({ ...user.headers, 'idempotency-key': 'failover-1' })
      expect(keyed.statusCode, keyed.body).toBe(201)
      expect(keyed.headers['idempotent-replayed']).toBeUndefined()
      const again = await post({ ...user.headers, 'idempotency-key': 'failover-1' })
      expect([again.statusCode, again.headers['idempotent-replayed'], again.json()]).toEqual([201, 'true', keyed.json()])
      // Without a key a create is not repeated (it may have committed): 503, the client decides.
      expect(expectProblem(await post(user.headers), 503)).toMatchObject({ status: 503 })
      const rows = await database.db.execute(sql`select count(*)::int as n from items where owner_id = ${user.id}`)
      expect((rows as unknown as { rows: { n: number }[] }).rows[0]!.n).toBe(1)
    } finally {
      await database.db.execute(sql.raw('drop trigger cut_first_insert on items; drop function cut_first_insert(); drop sequence cut_inserts'))
    }
  })

  it('logs an outage as two events: unreachable, then back with its duration and its 503s; no stack per request', async () => {
    const isEvent = (l: Record<string, unknown>) => typeof l.msg === 'string' && l.msg.startsWith('database ')
    // "Back" once the server has answered for the settling time with no failure (db/outage.ts).
    await vi.waitFor(() => expect(lines.filter(isEvent).map((l) => l.msg)).toContain('database reachable again (primary)'), { timeout: 8_000 })
    const events = lines.filter(isEvent)
    expect(events.map((l) => l.msg)).toContain('database unreachable (primary): answering 503 until it is back')
    const back = events.filter((l) => l.msg === 'database reachable again (primary)')
    expect(back[0]).toMatchObject({ server: 'primary', refused_503: expect.any(Number), outage_ms: expect.any(Number) })
    // The write answered 503 in the tests above is counted in its outage's closing line.
    expect(back.some((l) => Number(l.refused_503) >= 1)).toBe(true)
    expect(lines.filter((l) => l.level === 50 && l.msg !== events[0]!.msg)).toEqual([])
  })
})

describe.runIf(serverUrl)('reads on a replica (DATABASE_REPLICA_URL), read-your-writes', () => {
  let fresh: Awaited<ReturnType<typeof createTestDatabase>>
  let database: Database
  let app: FastifyInstance

  /**
   * The "replica" is the same database under another application_name, so a route can say which pool served
   * it; its pg_last_wal_replay_lsn() is a function shadowing the built-in (search_path), reporting a replica
   * that replayed nothing yet. npm run test:ha checks the same against a real standby paused in replay.
   */
  const start = async (env: Record<string, string>) => {
    const replica = new URL(fresh.url!)
    replica.searchParams.set('application_name', 'replica')
    replica.searchParams.set('options', '-c search_path=lagging,pg_catalog,public')
    database = await createDatabase({ databaseUrl: fresh.url, replicaUrl: replica.toString() })
    app = await buildApp({ config: testConfig({ DATABASE_URL: fresh.url!, DATABASE_REPLICA_URL: replica.toString(), ...env }), database, logger: pino({ level: 'silent' }) })
    // Says which pool served it, for the caller named in x-user (as authentication would have set it).
    await app.register(async (scope) => {
      scope.addHook('onRequest', async (request) => {
        if (request.headers['x-user']) request.user = { id: Number(request.headers['x-user']) } as AuthUser
      })
      scope.get('/test/served-by', async () => {
        const result = await database.db.execute(sql`select current_setting('application_name') as by`)
        return (result as unknown as { rows: { by: string }[] }).rows[0]
      })
    })
    await app.ready()
  }
  const stop = async () => {
    await app.close()
    await database.close()
  }

  beforeAll(async () => {
    fresh = await createTestDatabase()
    await createMigrator(fresh.database).migrate()
    await fresh.database.db.execute(sql.raw(`create schema lagging;
      create function lagging.pg_last_wal_replay_lsn() returns pg_lsn language sql as $$ select '0/1'::pg_lsn $$`))
  })
  afterAll(async () => fresh.drop())

  it('GETs read on the replica until the caller writes; then on the primary while the replica has not replayed it', async () => {
    await start({})
    try {
      const user = await createUser(app)
      const servedBy = async () => (await app.inject({ url: '/test/served-by', headers: { 'x-user': String(user.id) } })).json<{ by: string }>().by
      expect(await servedBy()).toBe('replica')
      expect((await app.inject({ url: '/test/served-by' })).json()).toEqual({ by: 'replica' })
      const created = await app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: 'mine' } })
      expect(created.statusCode, created.body).toBe(201)
      expect(await servedBy()).toBe('')
      const read = await app.inject({ url: `/api/v1/items/${created.json<{ id: number }>().id}`, headers: user.headers })
      expect(read.statusCode).toBe(200)
      // Another caller has written nothing: the replica serves it.
      expect((await app.inject({ url: '/test/served-by' })).json()).toEqual({ by: 'replica' })
    } finally {
      await stop()
    }
  })

  it('READ_YOUR_WRITES=false: every GET reads on the replica, even right after the caller\'s write', async () => {
    await start({ READ_YOUR_WRITES: 'false' })
    try {
      const user = await createUser(app)
      await app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: 'mine' } })
      expect((await app.inject({ url: '/test/served-by', headers: { 'x-user': String(user.id) } })).json()).toEqual({ by: 'replica' })
    } finally {
      await stop()
    }
  })
})

/** A TCP proxy to PostgreSQL that the test cuts: every connection through it dropped, new ones refused. */
async function startCuttableProxy(target: URL): Promise<{ port: number; cut(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    const upstream = connect(Number(target.port || 5432), target.hostname)
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => s.destroy()) }
    client.pipe(upstream).pipe(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    port: (server.address() as { port: number }).port,
    async cut() {
      for (const s of sockets) s.destroy()
      await new Promise((resolve) => server.close(resolve))
    },
  }
}

describe.runIf(serverUrl)('reads while the primary is away, a replica answering', () => {
  let fresh: Awaited<ReturnType<typeof createTestDatabase>>
  let database: Database
  let app: FastifyInstance
  let proxy: Awaited<ReturnType<typeof startCuttableProxy>>

  beforeAll(async () => {
    fresh = await createTestDatabase()
    await createMigrator(fresh.database).migrate()
    const replica = new URL(fresh.url!)
    replica.searchParams.set('application_name', 'replica')
    // The primary is reached through a proxy the test cuts once the app is up, as a primary dying.
    proxy = await startCuttableProxy(new URL(fresh.url!))
    const primary = new URL(fresh.url!)
    primary.port = String(proxy.port)
    database = await createDatabase({ databaseUrl: primary.toString(), replicaUrl: replica.toString() })
    app = await buildApp({ config: testConfig({ DATABASE_URL: primary.toString(), DATABASE_REPLICA_URL: replica.toString() }), database, logger: pino({ level: 'silent' }) })
    const servedBy = async () => {
      const result = await database.db.execute(sql`select current_setting('application_name') as by`)
      return (result as unknown as { rows: { by: string }[] }).rows[0]!.by
    }
    // Its hook queries where authentication does (before preHandler): the primary first.
    let atAuthentication = ''
    app.get('/test/before-authentication', { onRequest: async () => { atAuthentication = await servedBy() } }, async () => ({ by: atAuthentication }))
    app.post('/test/write', async () => ({ by: await servedBy() }))
    await app.ready()
    await proxy.cut()
  })
  afterAll(async () => {
    await app.close()
    await database.close()
    await fresh.drop()
  })

  it('a read the primary refuses is served by the replica; a write answers 503; readiness holds on the replica', async () => {
    const read = await app.inject({ url: '/test/before-authentication' })
    expect(read.json()).toEqual({ by: 'replica' })
    expectProblem(await app.inject({ method: 'POST', url: '/test/write' }), 503)
    expect((await app.inject('/readyz')).statusCode).toBe(200)
  })
})
