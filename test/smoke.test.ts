import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from './helpers/app.js'
import { createUser } from './helpers/factories.js'

let t: TestApp
beforeAll(async () => { t = await buildTestApp() })
afterAll(async () => t.close())

describe('smoke', () => {
  it('serves health, signs up, creates and lists items', async () => {
    expect((await t.app.inject('/healthz')).json()).toEqual({ status: 'ok' })
    expect((await t.app.inject('/readyz')).statusCode).toBe(200)
    const user = await createUser(t.app)
    const created = await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: 'first' } })
    expect(created.statusCode, created.body).toBe(201)
    const list = await t.app.inject({ url: '/api/v1/items', headers: user.headers })
    expect(list.json()).toMatchObject({ total: 1, page: 1, size: 100 })
    const me = await t.app.inject({ url: '/api/v1/users/me', headers: user.headers })
    expect(me.json()).toMatchObject({ email: user.email, updated_at: null })
    const doc = await t.app.inject('/openapi.json')
    expect(doc.statusCode).toBe(200)
  })
})
