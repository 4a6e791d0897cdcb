import { sql } from 'drizzle-orm'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildApp } from '../../app.js'
import { createDatabase } from '../../db/client.js'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
import { eventually, expectProblem } from '../../../test/helpers/http.js'
import { parseMetrics } from '../../../test/helpers/metrics.js'
import { listenOnce, openSse, type SseClient } from '../../../test/helpers/sse.js'

let t: TestApp
let base: string
beforeAll(async () => {
  t = await buildTestApp({ METRICS_PORT: '18122' })
  base = await listenOnce(t.app)
})
afterAll(async () => t.close())

const createItem = async (user: TestUser, name: string) => {
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name } })
  expect(res.statusCode, res.body).toBe(201)
  return res.json<{ id: number }>()
}
const names = (client: SseClient) => client.messages.map((m) => (m.data.data as { name?: string }).name)
const stream = (user: TestUser, query = '', headers: Record<string, string> = {}) => openSse(base, `/api/v1/events${query}`, { ...user.headers, ...headers })

describe('GET /api/v1/events', () => {
  it('401 without credentials, 422 for unknown types or a malformed Last-Event-ID', async () => {
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/events' }), 401)
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/events?ticket=nope' }), 401)
    const user = await createUser(t.app)
    const unknown = expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/events?types=widgets.created', headers: user.headers }), 422)
    expect(unknown.errors).toEqual([{ field: 'query.types', message: expect.stringContaining('"widgets.created"') }])
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/events?types=items.renamed', headers: user.headers }), 422)
    expectProblem(await t.app.inject({ method: 'GET', url: '/api/v1/events', headers: { ...user.headers, 'last-event-id': 'abc' } }), 422)
  })

  it('streams the caller\'s own changes as the API answers the rows, and nobody else\'s', async () => {
    const [alice, bob] = [await createUser(t.app), await createUser(t.app)]
    const client = await stream(alice)
    expect(client.status).toBe(200)
    expect(client.headers['content-type']).toBe('text/event-stream; charset=utf-8')
    expect(client.headers['x-content-type-options']).toBe('nosniff')
    await createItem(bob, 'not for alice')
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: alice.headers, payload: { name: 'one', description: 'd' } })
    const id = created.json<{ id: number }>().id
    const patched = await t.app.inject({ method: 'PATCH', url: `/api/v1/items/${id}`, headers: alice.headers, payload: { name: 'two' } })
    await t.app.inject({ method: 'DELETE', url: `/api/v1/items/${id}`, headers: alice.headers })
    await eventually(async () => expect(client.messages).toHaveLength(3))
    const [c, u, d] = client.messages.map((m) => m.data)
    expect(c).toEqual({
      id: Number(client.messages[0]!.id), type: 'items.created', resource: 'items', row_id: id, owner_id: alice.id,
      data: created.json(), created_at: expect.stringMatching(/Z$/),
    })
    expect(u).toMatchObject({ type: 'items.updated', row_id: id, data: patched.json() })
    expect(d).toMatchObject({ type: 'items.deleted', row_id: id, data: patched.json() })
    expect(c!.id < u!.id && u!.id < d!.id).toBe(true)
    client.close()
  })

  it('writes no event for a change that rolled back', async () => {
    const user = await createUser(t.app)
    const client = await stream(user)
    await t.database.db.transaction(async (tx) => {
      await tx.execute(sql`insert into items (name, owner_id) values ('rolled back', ${user.id})`)
      tx.rollback()
    }).catch(() => undefined)
    await createItem(user, 'committed')
    await eventually(async () => expect(names(client)).toEqual(['committed']))
    const rows = await t.database.db.execute(sql`select count(*)::int as n from events where data->>'name' = 'rolled back'`)
    expect((rows as unknown as { rows: { n: number }[] }).rows[0]!.n).toBe(0)
    client.close()
  })

  it('filters by ?types=', async () => {
    const user = await createUser(t.app)
    const client = await stream(user, '?types=items.deleted')
    const { id } = await createItem(user, 'short-lived')
    await t.app.inject({ method: 'DELETE', url: `/api/v1/items/${id}`, headers: user.headers })
    await eventually(async () => expect(client.messages.map((m) => m.data.type)).toEqual(['items.deleted']))
    client.close()
  })

  it('resumes after Last-Event-ID with exactly what was missed, then goes on live', async () => {
    const user = await createUser(t.app)
    const first = await stream(user)
    await createItem(user, 'seen')
    await eventually(async () => expect(names(first)).toEqual(['seen']))
    first.close()
    await createItem(user, 'missed 1')
    await createItem(user, 'missed 2')
    const resumed = await stream(user, '', { 'last-event-id': first.messages[0]!.id })
    await eventually(async () => expect(names(resumed)).toEqual(['missed 1', 'missed 2']))
    await createItem(user, 'live')
    await eventually(async () => expect(names(resumed)).toEqual(['missed 1', 'missed 2', 'live']))
    resumed.close()
  })

  it('stops delivering at once after a password change, and ends the stream', async () => {
    const user = await createUser(t.app)
    const client = await stream(user)
    await createItem(user, 'before')
    await eventually(async () => expect(names(client)).toEqual(['before']))
    const res = await t.app.inject({
      method: 'PUT', url: '/api/v1/users/me/password', headers: user.headers,
      payload: { current_password: user.password, new_password: 'another-password-123' },
    })
    expect(res.statusCode).toBe(204)
    await t.database.db.execute(sql`insert into items (name, owner_id) values ('after', ${user.id})`)
    await eventually(async () => expect(client.ended).toBe(true))
    expect(names(client)).toEqual(['before'])
  })
})

describe('POST /api/v1/events/tickets', () => {
  it('gives a one-time ticket that opens one stream without headers', async () => {
    const user = await createUser(t.app)
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/events/tickets', headers: user.headers })
    expect(res.statusCode, res.body).toBe(201)
    expect(res.headers['cache-control']).toBe('no-store')
    const { ticket, expires_at: expiresAt } = res.json<{ ticket: string; expires_at: string }>()
    expect(new Date(expiresAt).getTime()).toBeGreaterThan(Date.now() + 50_000)
    const client = await openSse(base, `/api/v1/events?ticket=${ticket}`)
    expect(client.status).toBe(200)
    await createItem(user, 'via ticket')
    await eventually(async () => expect(names(client)).toEqual(['via ticket']))
    client.close()
    expectProblem(await t.app.inject({ method: 'GET', url: `/api/v1/events?ticket=${ticket}` }), 401)
  })
})

describe('metrics', () => {
  it('count events delivered, open streams and why streams ended', async () => {
    const scrape = async () => parseMetrics(await t.app.metrics!.render())
    // Streams of earlier tests whose clients hung up end when their sockets' close is seen.
    await eventually(async () => expect((await scrape()).get('keel_event_streams_open')).toBe(0))
    const before = await scrape()
    const user = await createUser(t.app)
    const client = await stream(user)
    await createItem(user, 'counted')
    await eventually(async () => expect(client.messages).toHaveLength(1))
    const during = await scrape()
    expect(during.get('keel_events_delivered_total')! - (before.get('keel_events_delivered_total') ?? 0)).toBe(1)
    expect(during.get('keel_event_streams_open')).toBe(1)
    expect(during.get('keel_events_log_position')).toBe(client.messages[0]!.data.id)
    client.close()
    await eventually(async () => expect((await scrape()).get('keel_event_streams_open')).toBe(0))
    const after = await scrape()
    expect(after.get('keel_event_streams_closed_total{reason="client"}')! - (before.get('keel_event_streams_closed_total{reason="client"}') ?? 0)).toBe(1)
    expect(after.get('keel_webhook_attempts_total{outcome="failed"}')).toBe(0)
  })
})

describe('fan-out across instances', () => {
  it('an event written on instance A reaches a stream on instance B', async () => {
    const database = t.url ? await createDatabase({ databaseUrl: t.url, poolSize: 2 }) : t.database
    const b = await buildApp({ config: t.config, database, logger: pino({ level: 'silent' }) })
    try {
      const user = await createUser(t.app)
      const client = await openSse(await listenOnce(b), '/api/v1/events', user.headers)
      await createItem(user, 'from A')
      await eventually(async () => expect(names(client)).toEqual(['from A']), 50)
      client.close()
    } finally {
      await b.close()
      if (t.url) await database.close()
    }
  })
})
