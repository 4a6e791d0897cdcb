import { createHash } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase } from './helpers/database.js'
import { eventually } from './helpers/http.js'
import { freePort, killKeel, startKeel, waitReady, type KeelProcess } from './helpers/process.js'

const serverUrl = process.env.TEST_DATABASE_URL

/**
 * Idempotency-Key across real processes on one PostgreSQL (SPEC §9): two instances share nothing but the database,
 * and a process killed between its insert and its answer leaves neither the row nor the key.
 */
describe.runIf(serverUrl)('Idempotency-Key across Keel processes', () => {
  let url: string
  let drop: () => Promise<void>
  const instances: { keel: KeelProcess; base: string }[] = []
  let token = ''

  const start = async () => {
    const port = await freePort()
    const keel = startKeel({ DATABASE_URL: url, PORT: String(port), BCRYPT_ROUNDS: '4', SECRET_KEY: 'idempotency-instances-secret-key-0123456789' })
    const base = `http://127.0.0.1:${port}`
    await waitReady(base, keel.child)
    instances.push({ keel, base })
    return { keel, base }
  }
  const create = (base: string, key: string, name: string) => fetch(`${base}/api/v1/items`, {
    method: 'POST', body: JSON.stringify({ name }),
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}`, 'idempotency-key': key },
  })
  const rows = async (name: string) => {
    const client = new pg.Client({ connectionString: url })
    await client.connect()
    try {
      return Number((await client.query('select count(*) from items where name = $1', [name])).rows[0].count)
    } finally {
      await client.end()
    }
  }

  beforeAll(async () => {
    const db = await createTestDatabase()
    url = db.url!
    drop = db.drop
    const { base } = await start()
    await start()
    const credentials = { email: 'idem@example.com', password: 'idem-password' }
    const json = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(credentials) }
    expect((await fetch(`${base}/api/v1/users`, json)).status).toBe(201)
    token = ((await (await fetch(`${base}/api/v1/auth/token`, json)).json()) as { access_token: string }).access_token
  }, 120_000)
  afterAll(async () => {
    for (const { keel } of instances) await killKeel(keel)
    await drop()
  })

  it('10 concurrent POSTs with one key, spread over two instances, create one row', async () => {
    const answers = await Promise.all(Array.from({ length: 10 }, (_, n) => create(instances[n % 2]!.base, 'two-instances', 'spread')))
    const statuses = answers.map((r) => r.status)
    expect(statuses.every((s) => s === 201 || s === 409), String(statuses)).toBe(true)
    expect(await rows('spread')).toBe(1)
    // Once the first has committed, every instance replays it.
    for (const { base } of instances.slice(0, 2)) expect((await create(base, 'two-instances', 'spread')).headers.get('idempotent-replayed')).toBe('true')
  }, 60_000)

  it('a process killed between the insert and its answer leaves nothing: the retry creates the one row', async () => {
    const victim = await start()
    const blocker = new pg.Client({ connectionString: url })
    await blocker.connect()
    try {
      // An uncommitted row of the same key: the lookup cannot see it, the key row's INSERT waits on its unique entry.
      // So the item is inserted, and the answer never sent.
      const me = (await (await fetch(`${victim.base}/api/v1/users/me`, { headers: { authorization: `Bearer ${token}` } })).json()) as { id: number }
      await blocker.query('begin')
      await blocker.query("insert into idempotency_keys (user_id, key_hash, fingerprint, status, body, expires_at) values ($1, $2, '', 0, '', now())",
        [me.id, createHash('sha256').update('killed').digest('hex')])
      const doomed = create(victim.base, 'killed', 'killed-once').catch((err: unknown) => err)
      await eventually(async () => {
        const waiting = await blocker.query("select wait_event_type, state, left(query, 80) as q from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid() and wait_event_type = 'Lock'")
        // Only the key row's INSERT can wait on that entry (pg_stat_activity's query text may still show the statement before).
        expect(waiting.rows, JSON.stringify(waiting.rows)).toHaveLength(1)
      }, 500)
      victim.keel.child.kill('SIGKILL')
      expect(await doomed).toBeInstanceOf(Error)
      await blocker.query('rollback')
    } finally {
      await blocker.end()
    }
    // The dead client's transaction rolls back once its backend notices; until then the key is in flight (409).
    await eventually(async () => {
      const retry = await create(instances[0]!.base, 'killed', 'killed-once')
      expect(retry.status).toBe(201)
      expect(retry.headers.get('idempotent-replayed')).toBeNull()
    }, 500)
    expect(await rows('killed-once')).toBe(1)
  }, 120_000)
})
