import { createHmac } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
import { eventually, expectProblem } from '../../../test/helpers/http.js'
import { sendWebhook } from './webhooks.sender.js'

interface Received { headers: IncomingMessage['headers']; body: string }

/** A receiver on a real socket; `answer` decides each request's fate (the nth request, from 0). */
async function receiver(answer: (n: number, res: ServerResponse) => void): Promise<{ url: string; requests: Received[]; server: Server }> {
  const requests: Received[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk: Buffer) => { body += chunk.toString() })
    req.on('end', () => {
      requests.push({ headers: req.headers, body })
      answer(requests.length - 1, res)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, requests, server }
}

/** Standard Webhooks verification, written from the specification, independent of the code under test. */
function verify(secret: string, headers: IncomingMessage['headers'], body: string): boolean {
  const key = Buffer.from(secret.split('_')[1]!, 'base64')
  const expected = createHmac('sha256', key).update(`${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`).digest('base64')
  return String(headers['webhook-signature']).split(' ').some((s) => s === `v1,${expected}`)
}

let dev: TestApp
beforeAll(async () => {
  dev = await buildTestApp({ WEBHOOK_ALLOW_PRIVATE: 'true', WEBHOOK_RETRY_BASE_SECONDS: '0', WEBHOOK_TIMEOUT_SECONDS: '1' })
})
afterAll(async () => dev.close())

const addEndpoint = async (t: TestApp, user: TestUser, payload: object) =>
  t.app.inject({ method: 'POST', url: '/api/v1/webhooks', headers: user.headers, payload })
const createItem = async (t: TestApp, user: TestUser, name: string) => {
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name } })
  expect(res.statusCode, res.body).toBe(201)
  return res.json<{ id: number }>()
}

describe('webhooks', () => {
  it('retries a failing receiver with the same webhook-id; every attempt is signed; deliveries are listed', async () => {
    const target = await receiver((n, res) => res.writeHead(n < 2 ? 500 : 204).end())
    const user = await createUser(dev.app)
    const created = await addEndpoint(dev, user, { url: target.url, types: ['items.created'] })
    expect(created.statusCode, created.body).toBe(201)
    const { id, secret } = created.json<{ id: number; secret: string }>()
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/)
    const listed = await dev.app.inject({ url: '/api/v1/webhooks', headers: user.headers })
    expect(listed.json()).toMatchObject({ total: 1, items: [{ id, url: target.url, types: ['items.created'], enabled: true }] })
    expect(listed.body).not.toContain(secret)

    const item = await createItem(dev, user, 'hooked')
    await eventually(async () => expect(target.requests).toHaveLength(3), 500)
    const ids = new Set(target.requests.map((r) => r.headers['webhook-id']))
    expect(ids.size).toBe(1)
    for (const request of target.requests) expect(verify(secret, request.headers, request.body)).toBe(true)
    expect(verify(secret, { ...target.requests[0]!.headers, 'webhook-timestamp': '1' }, target.requests[0]!.body)).toBe(false)
    expect(JSON.parse(target.requests[2]!.body)).toMatchObject({ type: 'items.created', row_id: item.id, owner_id: user.id, data: { name: 'hooked' } })

    await eventually(async () => {
      const deliveries = await dev.app.inject({ url: `/api/v1/webhooks/${id}/deliveries`, headers: user.headers })
      expect(deliveries.json()).toMatchObject({ total: 1, items: [{ status: 'delivered', attempts: 3, response_status: 204, event_type: 'items.created' }] })
    })
    target.server.close()
  })

  it('a receiver that hangs does not hold back writes, and does not follow redirects', async () => {
    const hanging = await receiver(() => undefined)
    const elsewhere = await receiver((_n, res) => res.writeHead(204).end())
    const redirecting = await receiver((_n, res) => res.writeHead(307, { location: elsewhere.url }).end())
    const user = await createUser(dev.app)
    for (const url of [hanging.url, redirecting.url]) expect((await addEndpoint(dev, user, { url })).statusCode).toBe(201)
    await createItem(dev, user, 'first')
    await eventually(async () => expect(hanging.requests).toHaveLength(1), 500)
    // The receiver holds its request unanswered; writes are answered all the same.
    for (let i = 0; i < 10; i++) await createItem(dev, user, `more ${i}`)
    await eventually(async () => expect(redirecting.requests.length).toBeGreaterThanOrEqual(11), 500)
    expect(elsewhere.requests).toEqual([])
    for (const r of [hanging, elsewhere, redirecting]) r.server.closeAllConnections()
  })

  it('refuses bad input with 422 and hides other users\' endpoints', async () => {
    const [user, other] = [await createUser(dev.app), await createUser(dev.app)]
    expectProblem(await addEndpoint(dev, user, { url: 'ftp://example.com/x' }), 422)
    expectProblem(await addEndpoint(dev, user, { url: 'https://example.com/x', types: ['widgets.created'] }), 422)
    expectProblem(await addEndpoint(dev, user, { url: 'https://example.com/x', extra: 1 }), 422)
    const { id } = (await addEndpoint(dev, user, { url: 'https://example.com/x' })).json<{ id: number }>()
    expectProblem(await dev.app.inject({ method: 'PATCH', url: `/api/v1/webhooks/${id}`, headers: other.headers, payload: { enabled: false } }), 404)
    expectProblem(await dev.app.inject({ url: `/api/v1/webhooks/${id}/deliveries`, headers: other.headers }), 404)
    const off = await dev.app.inject({ method: 'PATCH', url: `/api/v1/webhooks/${id}`, headers: user.headers, payload: { enabled: false } })
    expect(off.json()).toMatchObject({ enabled: false, disabled_reason: 'disabled by a user' })
    expect((await dev.app.inject({ method: 'DELETE', url: `/api/v1/webhooks/${id}`, headers: user.headers })).statusCode).toBe(204)
    expectProblem(await dev.app.inject({ method: 'DELETE', url: `/api/v1/webhooks/${id}`, headers: user.headers }), 404)
  })
})

describe('SSRF protection (production rules: WEBHOOK_ALLOW_PRIVATE unset)', () => {
  let prod: TestApp
  beforeAll(async () => { prod = await buildTestApp() })
  afterAll(async () => prod.close())

  it('refuses http and loopback, private, link-local and metadata addresses when the endpoint is added', async () => {
    const user = await createUser(prod.app)
    for (const url of ['http://example.com/hook', 'https://127.0.0.1/hook', 'https://10.1.2.3/hook', 'https://169.254.169.254/latest/meta-data',
      'https://[::1]/hook', 'https://[::ffff:127.0.0.1]/hook', 'https://192.168.1.1/hook', 'https://user:pw@example.com/hook']) {
      const body = expectProblem(await addEndpoint(prod, user, { url }), 422)
      expect(body.errors?.[0]?.field, url).toBe('body.url')
    }
  })

  it('refuses at connect time a name that resolves to loopback, before any connection', async () => {
    let connections = 0
    const server = createServer(() => undefined)
    server.on('connection', () => { connections++ })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as AddressInfo).port
    const outcome = await sendWebhook(`https://localhost:${port}/hook`, {}, '{}', { allowPrivate: false, timeoutMs: 1_000 })
    expect(outcome).toEqual({ ok: false, error: expect.stringContaining('which webhooks may not reach') })
    expect(await sendWebhook(`http://127.0.0.1:${port}/hook`, {}, '{}', { allowPrivate: false, timeoutMs: 1_000 })).toEqual({ ok: false, error: 'URL must be https' })
    expect(connections).toBe(0)
    server.close()
  })
})
