import { connect } from 'node:net'
import { sql } from 'drizzle-orm'
import pg from 'pg'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../app.js'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
import { eventually } from '../../../test/helpers/http.js'
import { listenOnce, openSse, type SseClient } from '../../../test/helpers/sse.js'

let t: TestApp
let base: string
beforeAll(async () => {
  t = await buildTestApp()
  base = await listenOnce(t.app)
})
afterAll(async () => t.close())

const exec = async <T>(query: ReturnType<typeof sql>) => (await t.database.db.execute(query) as unknown as { rows: T[] }).rows
const stream = (user: TestUser, query = '') => openSse(base, `/api/v1/events${query}`, user.headers)
const rowIds = (client: SseClient) => client.messages.map((m) => m.data.row_id)
const names = (client: SseClient) => client.messages.map((m) => (m.data.data as { name: string }).name)

/** Inserts an item named `name` in a transaction on a connection of its own, runs `whileOpen`, then commits. */
async function insertCommittingLater(user: TestUser, name: string, whileOpen: () => Promise<unknown>): Promise<void> {
  const writer = new pg.Client({ connectionString: t.url })
  await writer.connect()
  try {
    await writer.query('begin')
    await writer.query('insert into items (name, owner_id) values ($1, $2)', [name, user.id])
    await whileOpen()
    await writer.query('commit')
  } finally {
    await writer.end()
  }
}

describe('delivery under concurrency', () => {
  // Minutes, not seconds, on the embedded engine of a busy machine: 1,000 writes and 3,000 deliveries in one process.
  it('1,000 concurrent writes: each stream gets every event it may read, in order, and none it may not', { timeout: 180_000 }, async () => {
    const [alice, bob] = [await createUser(t.app), await createUser(t.app)]
    const [a1, a2, b1] = [await stream(alice), await stream(alice, '?types=items.updated'), await stream(bob)]
    const write = (user: TestUser, i: number) => t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: `n${i}` } })
    // 1,000 writes, 50 in flight at any time: the test database's pool has 5 connections, and a request that waits
    // longer than its bound for one is answered 503 (by design).
    const answers: Awaited<ReturnType<typeof write>>[] = []
    let next = 0
    await Promise.all(Array.from({ length: 50 }, async () => {
      for (let i = next++; i < 1_000; i = next++) answers[i] = await write(i % 2 ? bob : alice, i)
    }))
    expect(answers.filter((r) => r.statusCode !== 201).map((r) => r.statusCode)).toEqual([])
    const mine = (user: TestUser) => answers.map((r) => r.json<{ id: number; owner_id: number }>()).filter((r) => r.owner_id === user.id).map((r) => r.id)
    // One row changed twice: its events arrive in the order the changes committed.
    const first = mine(alice)[0]!
    for (const name of ['x', 'y']) await t.app.inject({ method: 'PATCH', url: `/api/v1/items/${first}`, headers: alice.headers, payload: { name } })

    await eventually(async () => expect(a1.messages).toHaveLength(502), 1_500)
    await eventually(async () => expect(b1.messages).toHaveLength(500), 1_500)
    expect(new Set(rowIds(a1).slice(0, 500))).toEqual(new Set(mine(alice)))
    expect(new Set(rowIds(b1))).toEqual(new Set(mine(bob)))
    const ids = a1.messages.map((m) => m.data.id)
    expect(ids).toEqual([...ids].sort((x, y) => x - y))
    expect(a1.messages.slice(500).map((m) => (m.data.data as { name: string }).name)).toEqual(['x', 'y'])
    await eventually(async () => expect(a2.messages.map((m) => m.data.type)).toEqual(['items.updated', 'items.updated']))
    for (const client of [a1, a2, b1]) client.close()
  })

  it.runIf(process.env.TEST_DATABASE_URL)('holds back an event whose id was taken before an earlier one that commits later', async () => {
    const user = await createUser(t.app)
    const client = await stream(user)
    await insertCommittingLater(user, 'late', async () => {
      const early = await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: 'early' } })
      expect(early.statusCode).toBe(201)
      // The hub has seen the id of 'early' (committed) past the one 'late' holds (not yet): it must wait.
      await eventually(async () => expect(t.app.events.pending()).toBeGreaterThan(0))
    })
    await eventually(async () => expect(names(client)).toEqual(['late', 'early']))
    client.close()
  })

  // A running transaction whose xid is the newest assigned is not in other sessions' snapshots at all (their xmax is
  // the latest *completed* xid + 1): a horizon that trusted xmin and xmax moved past its event while it was open.
  it.runIf(process.env.TEST_DATABASE_URL)('holds back the event of the newest transaction while it stays open across polls', async () => {
    const user = await createUser(t.app)
    const client = await stream(user)
    // Several of the hub's polls (200 ms) while it is open, with no other write anywhere.
    await insertCommittingLater(user, 'slow', () => new Promise((resolve) => setTimeout(resolve, 1_000)))
    await eventually(async () => expect(names(client)).toEqual(['slow']))
    client.close()
  })
})

describe('org events', () => {
  it('reach members whose role may read them, not others, and stop at once when a member is removed', async () => {
    const [member, outsider] = [await createUser(t.app), await createUser(t.app)]
    const orgId = (await exec<{ id: number }>(sql`insert into orgs (name, slug) values ('Acme', ${`acme-${member.id}`}) returning id`))[0]!.id
    await exec(sql`insert into memberships (org_id, user_id, role) values (${orgId}, ${member.id}, 'viewer')`)
    const [m, o] = [await stream(member), await stream(outsider)]
    const orgEvent = async (rowId: number) => {
      await exec(sql`insert into events (type, resource, row_id, org_id, data) values ('items.created', 'items', ${rowId}, ${orgId}, '{}')`)
      await exec(sql`select pg_notify('keel_events', '')`)
    }
    await orgEvent(1)
    await eventually(async () => expect(rowIds(m)).toEqual([1]))
    expect(m.messages[0]!.data).toMatchObject({ org_id: orgId, type: 'items.created' })
    expect(m.messages[0]!.data).not.toHaveProperty('owner_id')
    await exec(sql`delete from memberships where org_id = ${orgId} and user_id = ${member.id}`)
    await orgEvent(2)
    await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: outsider.headers, payload: { name: 'marker' } })
    await eventually(async () => expect(rowIds(o)).toHaveLength(1))
    expect(rowIds(m)).toEqual([1])
    for (const client of [m, o]) client.close()
  })
})

describe('stream lifecycle', () => {
  it('disconnects a client that does not read instead of buffering for it', { timeout: 40_000 }, async () => {
    const user = await createUser(t.app)
    const socket = connect(Number(new URL(base).port), '127.0.0.1')
    socket.write(`GET /api/v1/events HTTP/1.1\r\nhost: x\r\nauthorization: ${user.headers.authorization}\r\n\r\n`)
    socket.pause()
    await eventually(async () => expect(t.app.events.openStreams()).toBe(1))
    await exec(sql`insert into items (name, description, owner_id) select 'bulk ' || g, repeat('x', 1000), ${user.id} from generate_series(1, 16000) g`)
    await exec(sql`select pg_notify('keel_events', '')`)
    // It has taken nothing for 10 s (STALL_MS) with more than 1 MiB waiting.
    await eventually(async () => expect(t.app.events.openStreams()).toBe(0), 1_000)
    socket.destroy()
  })

  // The slow-client limit is 1 MiB waiting: a backlog of several MiB is read from the log as fast as the client takes
  // it, and a page of large rows arrives whole, instead of ending a client that reads.
  const bulk = async (user: TestUser, rows: number, descriptionLength: number) => {
    await exec(sql`insert into items (name, description, owner_id)
      select 'bulk ' || g, repeat('x', ${descriptionLength}), ${user.id} from generate_series(1, ${rows}) g`)
    await exec(sql`select pg_notify('keel_events', '')`)
  }

  it('a client resuming from far back gets the whole backlog (MiBs), not a disconnect', { timeout: 60_000 }, async () => {
    const user = await createUser(t.app)
    const live = await stream(user)
    await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: 'marker' } })
    await eventually(async () => expect(live.messages).toHaveLength(1))
    live.close()
    await bulk(user, 3_000, 1_000)
    // It reads nothing for the first 300 ms, as a client on a slow link would.
    const client = await openSse(base, '/api/v1/events', { ...user.headers, 'last-event-id': live.messages[0]!.id }, 300)
    await eventually(async () => expect(client.messages.length === 3_000 || client.ended).toBe(true), 1_000)
    expect(client.ended).toBe(false)
    expect(names(client)).toEqual(Array.from({ length: 3_000 }, (_, i) => `bulk ${i + 1}`))
    client.close()
  })

  it('a burst of large rows bigger than the limit reaches a client that reads', { timeout: 60_000 }, async () => {
    const user = await createUser(t.app)
    const client = await stream(user)
    await eventually(async () => expect(t.app.events.openStreams()).toBeGreaterThan(0))
    // ~3.5 MiB committed at once: the hub reads it in pages of 500 events (~0.6 MiB each).
    await bulk(user, 3_000, 1_000)
    await eventually(async () => expect(client.messages.length === 3_000 || client.ended).toBe(true), 1_000)
    expect(client.ended).toBe(false)
    expect(client.messages).toHaveLength(3_000)
    client.close()
  })

  it('ends every stream cleanly when the server closes, and the client resumes elsewhere from its last id', async () => {
    const b = await buildApp({ config: t.config, database: t.database, logger: pino({ level: 'silent' }) })
    const user = await createUser(t.app)
    const client = await openSse(await listenOnce(b), '/api/v1/events', user.headers)
    await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: 'before close' } })
    await eventually(async () => expect(client.messages).toHaveLength(1))
    await b.close()
    await eventually(async () => expect(client.finished).toBe(true))
    await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: 'while away' } })
    const resumed = await openSse(base, '/api/v1/events', { ...user.headers, 'last-event-id': client.messages[0]!.id })
    await eventually(async () => expect(names(resumed)).toEqual(['while away']))
    resumed.close()
  })
})
