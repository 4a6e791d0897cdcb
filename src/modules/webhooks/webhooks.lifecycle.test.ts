import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
import { eventually } from '../../../test/helpers/http.js'

let t: TestApp
let receiver: Server
let url: string
let received = 0
/** The receiver's status for its nth request (from 0). */
let answer: (n: number) => number = () => 500
beforeAll(async () => {
  t = await buildTestApp({
    WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_BASE_SECONDS: '0', WEBHOOK_TIMEOUT_SECONDS: '1',
    WEBHOOK_DISABLE_AFTER_FAILURES: '3', WEBHOOK_MAX_ATTEMPTS: '10',
  })
  receiver = createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(answer(received++)).end())
  })
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
  url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`
})
afterAll(async () => {
  receiver.close()
  await t.close()
})

const rowsOf = <T>(result: unknown) => (result as { rows: T[] }).rows
const createItem = async (user: TestUser, name: string) => {
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name } })
  expect(res.statusCode, res.body).toBe(201)
}
const endpoint = async (user: TestUser, id: number) =>
  (await t.app.inject({ url: '/api/v1/webhooks', headers: user.headers })).json<{ items: { id: number }[] }>().items.find((e) => e.id === id)
const deliveries = async (user: TestUser, id: number) =>
  (await t.app.inject({ url: `/api/v1/webhooks/${id}/deliveries`, headers: user.headers })).json<{ total: number; items: object[] }>()
/** Waits until every event written so far has been through the webhook fan-out. */
async function fannedOut(): Promise<void> {
  const [{ last }] = rowsOf<{ last: string }>(await t.database.db.execute(sql`select coalesce(max(id), 0) as last from events`)) as [{ last: string }]
  await eventually(async () => {
    const [{ position }] = rowsOf<{ position: string }>(await t.database.db.execute(sql`select position from webhook_fanout`)) as [{ position: string }]
    expect(Number(position)).toBeGreaterThanOrEqual(Number(last))
  }, 500)
}

describe('an endpoint failing again and again', () => {
  it('is disabled after WEBHOOK_DISABLE_AFTER_FAILURES failed attempts in a row, gets nothing more, and can be turned back on', async () => {
    const user = await createUser(t.app)
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: user.headers, payload: { url } })
    const { id } = created.json<{ id: number }>()
    received = 0
    answer = () => 500
    await createItem(user, 'refused')
    await eventually(async () => expect(await endpoint(user, id)).toMatchObject({ enabled: false }), 500)
    expect(await endpoint(user, id)).toMatchObject({
      enabled: false, consecutive_failures: 3, disabled_reason: 'disabled after 3 failed attempts in a row',
    })
    expect(received).toBe(3)
    expect(await deliveries(user, id)).toMatchObject({
      total: 1, items: [{ status: 'failed', attempts: 3, response_status: 500, last_error: 'endpoint disabled' }],
    })

    await createItem(user, 'while disabled')
    await fannedOut()
    await t.app.webhooks.worker.runOnce()
    expect((await deliveries(user, id)).total).toBe(1)
    expect(received).toBe(3)

    const on = await t.app.inject({ method: 'PATCH', url: `/api/v1/webhooks/${id}`, headers: user.headers, payload: { enabled: true } })
    expect(on.json()).toMatchObject({ enabled: true, consecutive_failures: 0, disabled_reason: null })
    answer = () => 204
    await createItem(user, 'accepted')
    await eventually(async () => expect((await deliveries(user, id)).items[0]).toMatchObject({ status: 'delivered', attempts: 1 }), 500)
    expect(received).toBe(4)
  })

  it('a success between failures starts the count again', async () => {
    const user = await createUser(t.app)
    const { id } = (await t.app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: user.headers, payload: { url } })).json<{ id: number }>()
    received = 0
    // Two failures, then a success, for each of two events: four failures in all, never three in a row.
    answer = (n) => (n % 3 === 2 ? 204 : 500)
    await createItem(user, 'first')
    await eventually(async () => expect((await deliveries(user, id)).items[0]).toMatchObject({ status: 'delivered', attempts: 3 }), 500)
    await createItem(user, 'second')
    const delivered = { status: 'delivered', attempts: 3 }
    await eventually(async () => expect(await deliveries(user, id)).toMatchObject({ total: 2, items: [delivered, delivered] }), 500)
    expect(await endpoint(user, id)).toMatchObject({ enabled: true, consecutive_failures: 0, disabled_reason: null })
    expect(received).toBe(6)
  })
})

describe('the deliveries clean-up', () => {
  it('deletes finished deliveries older than a week, keeps newer ones and every pending one', async () => {
    const user = await createUser(t.app)
    const { id } = (await t.app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: user.headers, payload: { url: 'https://example.com/x' } })).json<{ id: number }>()
    const add = (status: string, age: string) => t.database.db.execute(sql`
      insert into webhook_deliveries (endpoint_id, event_id, event_type, payload, status, created_at)
      values (${id}, 1, 'items.created', '{}', ${status}, now() - ${age}::interval) returning id`)
    const old = [await add('delivered', '8 days'), await add('failed', '8 days')].map((r) => rowsOf<{ id: string }>(r)[0]!.id)
    const kept = [await add('pending', '30 days'), await add('delivered', '6 days')].map((r) => rowsOf<{ id: string }>(r)[0]!.id)
    expect(await t.app.webhooks.sweep()).toBeGreaterThanOrEqual(2)
    const left = rowsOf<{ id: string }>(await t.database.db.execute(sql`select id from webhook_deliveries where endpoint_id = ${id} order by id`))
    expect(left.map((r) => String(r.id))).toEqual(kept.map(String))
    expect(left.map((r) => String(r.id))).not.toContain(String(old[0]))
  })
})
