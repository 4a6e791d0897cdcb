import { sql } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../app.js'
import { loadConfig } from '../../config.js'
import { createDatabase, type Database } from '../../db/client.js'
import { createMigrator } from '../../db/migrator.js'
import { createTestDatabase, serverUrl } from '../../../test/helpers/database.js'
import { createUser } from '../../../test/helpers/factories.js'
import { eventually } from '../../../test/helpers/http.js'
import { listenOnce, openSse } from '../../../test/helpers/sse.js'

/**
 * The "replica" is the same database under another search_path, where `events` and `event_tickets` are empty
 * tables of their own: a replica that has not replayed them yet. READ_YOUR_WRITES=false sends every GET there.
 */
describe.runIf(serverUrl)('event streams beside a lagging replica (DATABASE_REPLICA_URL)', () => {
  let fresh: Awaited<ReturnType<typeof createTestDatabase>>
  let database: Database
  let app: FastifyInstance
  let base: string

  beforeAll(async () => {
    fresh = await createTestDatabase()
    await createMigrator(fresh.database).migrate()
    await fresh.database.db.execute(sql.raw(`create schema lagging;
      create table lagging.events (like public.events including all);
      create table lagging.event_tickets (like public.event_tickets including all)`))
    const replica = new URL(fresh.url!)
    replica.searchParams.set('options', '-c search_path=lagging,public')
    database = await createDatabase({ databaseUrl: fresh.url, replicaUrl: replica.toString() })
    const config = loadConfig({
      NODE_ENV: 'test', SECRET_KEY: 'test-secret-key-that-is-long-enough-0123456789', BCRYPT_ROUNDS: '4', LOG_LEVEL: 'silent',
      DATABASE_URL: fresh.url!, DATABASE_REPLICA_URL: replica.toString(), READ_YOUR_WRITES: 'false',
    })
    app = await buildApp({ config, database, logger: pino({ level: 'silent' }) })
    base = await listenOnce(app)
  })
  afterAll(async () => {
    await app?.close()
    await database?.close()
    await fresh.drop()
  })

  const createItem = async (headers: Record<string, string>, name: string) => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/items', headers, payload: { name } })
    expect(res.statusCode, res.body).toBe(201)
  }

  it('a stream resuming with Last-Event-ID replays the log of the primary', async () => {
    const user = await createUser(app)
    await createItem(user.headers, 'missed 1')
    await createItem(user.headers, 'missed 2')
    // The hub has read past them: the stream must replay them from the log, not get them live.
    const [{ last }] = (await database.db.execute(sql`select max(id)::int as last from events`) as unknown as { rows: [{ last: number }] }).rows
    await eventually(async () => expect(app.events.position()).toBeGreaterThanOrEqual(last))
    const client = await openSse(base, '/api/v1/events', { ...user.headers, 'last-event-id': '0' })
    expect(client.status).toBe(200)
    await eventually(async () => expect(client.messages.map((m) => (m.data.data as { name: string }).name)).toEqual(['missed 1', 'missed 2']))
    await createItem(user.headers, 'live')
    await eventually(async () => expect(client.messages).toHaveLength(3))
    client.close()
  })

  it('a ticket is used up on the primary, where it was issued', async () => {
    const user = await createUser(app)
    const issued = await app.inject({ method: 'POST', url: '/api/v1/events/tickets', headers: user.headers })
    const client = await openSse(base, `/api/v1/events?ticket=${issued.json<{ ticket: string }>().ticket}`)
    expect(client.status).toBe(200)
    client.close()
  })
})
