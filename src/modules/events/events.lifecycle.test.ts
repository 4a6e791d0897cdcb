import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
import { eventually, expectProblem } from '../../../test/helpers/http.js'
import { listenOnce, openSse } from '../../../test/helpers/sse.js'
import { hashTicket } from './events.repository.js'

let t: TestApp
let base: string
beforeAll(async () => {
  t = await buildTestApp({ EVENT_RETENTION_HOURS: '2' })
  base = await listenOnce(t.app)
})
afterAll(async () => t.close())

const rowsOf = <T>(result: unknown) => (result as { rows: T[] }).rows
const ticketFor = async (user: TestUser) => {
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/events/tickets', headers: user.headers })
  expect(res.statusCode, res.body).toBe(201)
  return res.json<{ ticket: string; expires_at: string }>()
}

describe('the event log clean-up (EVENT_RETENTION_HOURS)', () => {
  it('deletes events older than the retention window and expired tickets, and keeps the rest', async () => {
    const user = await createUser(t.app)
    const add = async (age: string) => rowsOf<{ id: string }>(await t.database.db.execute(sql`
      insert into events (type, resource, row_id, owner_id, data, created_at)
      values ('items.created', 'items', 1, ${user.id}, '{}', now() - ${age}::interval) returning id`))[0]!.id
    const old = await add('2 hours 1 minute')
    const recent = await add('1 hour 59 minutes')
    const live = await ticketFor(user)
    const expired = await ticketFor(user)
    await t.database.db.execute(sql`update event_tickets set expires_at = now() - interval '1 second' where token_hash = ${hashTicket(expired.ticket)}`)

    expect(await t.app.events.sweep()).toBeGreaterThanOrEqual(1)
    const left = rowsOf<{ id: string }>(await t.database.db.execute(sql`select id from events where id in (${old}, ${recent})`))
    expect(left.map((r) => String(r.id))).toEqual([String(recent)])
    const tickets = rowsOf<{ token_hash: string }>(await t.database.db.execute(sql`select token_hash from event_tickets where user_id = ${user.id}`))
    expect(tickets.map((r) => r.token_hash)).toEqual([hashTicket(live.ticket)])
  })
})

describe('event tickets', () => {
  it('last 60 seconds', async () => {
    const user = await createUser(t.app)
    const before = Date.now()
    const { expires_at: expiresAt } = await ticketFor(user)
    // The database's clock sets it: a second either way for the round trip.
    expect(new Date(expiresAt).getTime()).toBeGreaterThanOrEqual(before + 59_000)
    expect(new Date(expiresAt).getTime()).toBeLessThanOrEqual(Date.now() + 61_000)
  })

  it('401 for an expired ticket, and it is used up all the same', async () => {
    const user = await createUser(t.app)
    const { ticket } = await ticketFor(user)
    await t.database.db.execute(sql`update event_tickets set expires_at = now() - interval '1 millisecond' where token_hash = ${hashTicket(ticket)}`)
    const body = expectProblem(await t.app.inject({ url: `/api/v1/events?ticket=${ticket}` }), 401)
    expect(body.detail).toBe('Unknown, used or expired ticket')
    const rows = rowsOf<unknown>(await t.database.db.execute(sql`select 1 from event_tickets where token_hash = ${hashTicket(ticket)}`))
    expect(rows).toEqual([])
  })

  it('open one stream only, even when two try at once', async () => {
    const user = await createUser(t.app)
    const { ticket } = await ticketFor(user)
    const [a, b] = await Promise.all([openSse(base, `/api/v1/events?ticket=${ticket}`), openSse(base, `/api/v1/events?ticket=${ticket}`)])
    expect([a.status, b.status].sort()).toEqual([200, 401])
    a.close()
    b.close()
  })

  it('401 for a ticket issued before a password change', async () => {
    const user = await createUser(t.app)
    const { ticket } = await ticketFor(user)
    const changed = await t.app.inject({
      method: 'PUT', url: '/api/v1/users/me/password', headers: user.headers,
      payload: { current_password: user.password, new_password: 'another-password-123' },
    })
    expect(changed.statusCode).toBe(204)
    expectProblem(await t.app.inject({ url: `/api/v1/events?ticket=${ticket}` }), 401)
  })
})

describe('the heartbeat', () => {
  it('keeps a stream alive with a comment', async () => {
    const user = await createUser(t.app)
    const client = await openSse(base, '/api/v1/events', user.headers)
    await t.app.events.beat()
    await eventually(async () => expect(client.comments).toContain('keep-alive'))
    expect(client.ended).toBe(false)
    client.close()
  })

  it('ends, with no event to deliver, the stream of a user whose password changed', async () => {
    const user = await createUser(t.app)
    const bystander = await createUser(t.app)
    const client = await openSse(base, '/api/v1/events', user.headers)
    const other = await openSse(base, '/api/v1/events', bystander.headers)
    const changed = await t.app.inject({
      method: 'PUT', url: '/api/v1/users/me/password', headers: user.headers,
      payload: { current_password: user.password, new_password: 'another-password-123' },
    })
    expect(changed.statusCode).toBe(204)
    await t.app.events.beat()
    await eventually(async () => expect(client.finished).toBe(true))
    expect(client.comments).not.toContain('keep-alive')
    expect(other.ended).toBe(false)
    expect(other.comments).toContain('keep-alive')
    other.close()
  })

  it('ends the stream of a deactivated user', async () => {
    const user = await createUser(t.app)
    const client = await openSse(base, '/api/v1/events', user.headers)
    await t.database.db.execute(sql`update users set is_active = false where id = ${user.id}`)
    await t.app.events.beat()
    await eventually(async () => expect(client.finished).toBe(true))
  })
})
