import { and, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { items, users } from '../../db/schema.js'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { authHeaders, createUser, login, uniqueEmail, type TestUser } from '../../../test/helpers/factories.js'
import { expectProblem, isoTimestamp } from '../../../test/helpers/http.js'
import { createUsersService } from './users.service.js'

let t: TestApp
beforeAll(async () => { t = await buildTestApp() })
afterAll(async () => t.close())

const signUp = (payload: unknown) => t.app.inject({ method: 'POST', url: '/api/v1/users', payload: payload as object })
const superuser = () => createUser(t.app, { superuser: true, database: t.database })

describe('POST /api/v1/users', () => {
  it('creates a user, email lower-cased, never a hash', async () => {
    const email = uniqueEmail('Mixed').replace('mixed', 'MiXeD')
    const res = await signUp({ email, password: 'long-enough', full_name: 'Ada' })
    expect(res.statusCode).toBe(201)
    expect(res.json()).toEqual({
      id: expect.any(Number), email: email.toLowerCase(), full_name: 'Ada', is_active: true, is_superuser: false,
      email_verified: false, created_at: isoTimestamp, updated_at: null,
    })
    expect(res.body).not.toMatch(/hash|\$2b\$/)
  })

  it('409 for an email taken in another case', async () => {
    const email = uniqueEmail()
    expect((await signUp({ email, password: 'long-enough' })).statusCode).toBe(201)
    expectProblem(await signUp({ email: email.toUpperCase(), password: 'long-enough' }), 409)
  })

  it('concurrent sign-ups with one address: exactly one wins', async () => {
    const email = uniqueEmail()
    const results = await Promise.all(Array.from({ length: 5 }, (_, i) => signUp({ email: i % 2 ? email.toUpperCase() : email, password: 'long-enough' })))
    expect(results.map((r) => r.statusCode).sort()).toEqual([201, 409, 409, 409, 409])
  })

  it.each([
    [{ email: 'not-an-email', password: 'long-enough' }, 'body.email'],
    [{ email: uniqueEmail(), password: 'short' }, 'body.password'],
    [{ email: uniqueEmail() }, 'body.password'],
    [{ email: uniqueEmail(), password: 'é'.repeat(40) }, 'body.password'],
    [{ email: uniqueEmail(), password: 'long-enough', is_superuser: true }, 'body.is_superuser'],
    [{ email: uniqueEmail(), password: 'long-enough', is_active: false }, 'body.is_active'],
    [{ email: uniqueEmail(), password: 'long-enough', id: 5 }, 'body.id'],
    [{ email: uniqueEmail(), password: 12345678 }, 'body.password'],
  ])('422 for %j', async (payload, field) => {
    const body = expectProblem(await signUp(payload), 422)
    expect(body.errors?.map((e) => e.field)).toContain(field)
  })
})

describe('/api/v1/users/me', () => {
  it('GET answers the current user', async () => {
    const user = await createUser(t.app)
    const res = await t.app.inject({ url: '/api/v1/users/me', headers: user.headers })
    expect(res.json()).toMatchObject({ id: user.id, email: user.email, is_superuser: false, updated_at: null })
  })

  it('PATCH with an empty body changes nothing, updated_at included', async () => {
    const user = await createUser(t.app)
    const res = await t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: user.headers, payload: {} })
    expect(res.json()).toMatchObject({ email: user.email, updated_at: null })
  })

  it('PATCH changes only the fields sent and stamps updated_at', async () => {
    const user = await createUser(t.app)
    const res = await t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: user.headers, payload: { full_name: 'New Name' } })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ email: user.email, full_name: 'New Name', updated_at: isoTimestamp })
    const read = await t.app.inject({ url: '/api/v1/users/me', headers: user.headers })
    expect(read.json()).toEqual(res.json())
  })

  it('PATCH no longer takes email (422): a new address needs confirming (POST /users/me/email)', async () => {
    const user = await createUser(t.app)
    const body = expectProblem(await t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: user.headers, payload: { email: uniqueEmail() } }), 422)
    expect(body.errors).toEqual([{ field: 'body.email', message: 'unknown field' }])
    expect((await t.app.inject({ url: '/api/v1/users/me', headers: user.headers })).json()).toMatchObject({ email: user.email, updated_at: null })
  })

  it('PATCH never raises privileges: is_superuser, is_active, id are 422', async () => {
    const user = await createUser(t.app)
    for (const payload of [{ is_superuser: true }, { is_active: false }, { id: 1 }]) {
      expectProblem(await t.app.inject({ method: 'PATCH', url: '/api/v1/users/me', headers: user.headers, payload }), 422)
    }
    expect((await t.app.inject({ url: '/api/v1/users/me', headers: user.headers })).json().is_superuser).toBe(false)
  })

  it('DELETE removes the user and their items', async () => {
    const user = await createUser(t.app)
    await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: 'doomed' } })
    expect((await t.app.inject({ method: 'DELETE', url: '/api/v1/users/me', headers: user.headers })).statusCode).toBe(204)
    expect(await t.database.db.select().from(items).where(eq(items.owner_id, user.id))).toEqual([])
    expectProblem(await t.app.inject({ url: '/api/v1/users/me', headers: user.headers }), 401)
  })
})

describe('PUT /api/v1/users/me/password', () => {
  const change = (user: TestUser, current_password: string, new_password: string) =>
    t.app.inject({ method: 'PUT', url: '/api/v1/users/me/password', headers: user.headers, payload: { current_password, new_password } })

  it('changes the password; every earlier access and refresh token stops working', async () => {
    const user = await createUser(t.app)
    const second = await login(t.app, user.email, user.password)
    expect((await change(user, user.password, 'brand-new-password')).statusCode).toBe(204)
    expectProblem(await t.app.inject({ url: '/api/v1/users/me', headers: user.headers }), 401)
    expectProblem(await t.app.inject({ url: '/api/v1/users/me', headers: authHeaders(second.accessToken) }), 401)
    for (const token of [user.refreshToken, second.refreshToken]) {
      expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: token } }), 401)
    }
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: user.email, password: user.password } }), 401)
    const fresh = await login(t.app, user.email, 'brand-new-password')
    expect((await t.app.inject({ url: '/api/v1/users/me', headers: authHeaders(fresh.accessToken) })).statusCode).toBe(200)
  })

  it('wrong current passwords count against the login rate limit', async () => {
    const limited = await buildTestApp({ LOGIN_RATE_LIMIT_PER_MINUTE: '3' })
    try {
      const user = await createUser(limited.app)
      const attempt = () => limited.app.inject({ method: 'PUT', url: '/api/v1/users/me/password', headers: user.headers, payload: { current_password: 'guess-guess', new_password: 'brand-new-password' } })
      for (let i = 0; i < 2; i++) expectProblem(await attempt(), 400)
      expectProblem(await attempt(), 429)
    } finally {
      await limited.close()
    }
  })

  it('422 for a new password over 72 bytes in UTF-8, and the old one still works', async () => {
    const user = await createUser(t.app)
    // 40 characters, within maxLength, but 80 bytes: bcrypt would silently drop the end.
    const body = expectProblem(await change(user, user.password, 'é'.repeat(40)), 422)
    expect(body.errors).toEqual([{ field: 'body.new_password', message: 'must be at most 72 bytes in UTF-8' }])
    await login(t.app, user.email, user.password)
  })

  it('400 for a wrong current password, 422 for a short new one', async () => {
    const user = await createUser(t.app)
    expectProblem(await change(user, 'wrong-password', 'brand-new-password'), 400)
    expectProblem(await change(user, user.password, 'short'), 422)
    expect((await t.app.inject({ url: '/api/v1/users/me', headers: user.headers })).statusCode).toBe(200)
  })
})

describe('superuser administration', () => {
  it('403 for a non-superuser on every admin route, whether or not the id exists', async () => {
    const user = await createUser(t.app)
    for (const [method, url] of [['GET', '/api/v1/users'], ['GET', `/api/v1/users/${user.id}`], ['GET', '/api/v1/users/999999'],
      ['PATCH', '/api/v1/users/999999'], ['DELETE', `/api/v1/users/${user.id}`], ['DELETE', '/api/v1/users/999999']] as const) {
      expectProblem(await t.app.inject({ method, url, headers: user.headers, ...(method === 'PATCH' ? { payload: {} } : {}) }), 403)
    }
  })

  it('GET /users pages all users', async () => {
    const admin = await superuser()
    await createUser(t.app)
    const res = await t.app.inject({ url: '/api/v1/users?skip=1&limit=1', headers: admin.headers })
    expect(res.statusCode).toBe(200)
    const page = res.json()
    expect(page).toMatchObject({ page: 2, size: 1 })
    expect(page.items).toHaveLength(1)
    expect(page.total).toBeGreaterThanOrEqual(2)
    expect(JSON.stringify(page)).not.toContain('hash')
    expectProblem(await t.app.inject({ url: '/api/v1/users?limit=101', headers: admin.headers }), 422)
  })

  it('GET, PATCH and DELETE one user; 404 for a missing id', async () => {
    const admin = await superuser()
    const user = await createUser(t.app)
    expect((await t.app.inject({ url: `/api/v1/users/${user.id}`, headers: admin.headers })).json().email).toBe(user.email)
    const patched = await t.app.inject({ method: 'PATCH', url: `/api/v1/users/${user.id}`, headers: admin.headers, payload: { full_name: 'Renamed', is_superuser: true } })
    expect(patched.json()).toMatchObject({ full_name: 'Renamed', is_superuser: true, updated_at: expect.any(String) })
    expectProblem(await t.app.inject({ url: '/api/v1/users/999999', headers: admin.headers }), 404)
    expectProblem(await t.app.inject({ method: 'PATCH', url: '/api/v1/users/999999', headers: admin.headers, payload: {} }), 404)
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/users/${user.id}`, headers: admin.headers })).statusCode).toBe(204)
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/users/${user.id}`, headers: admin.headers }), 404)
  })

  it('PATCH with an email another account uses (in any case) is 409 and changes nothing', async () => {
    const admin = await superuser()
    const [user, other] = [await createUser(t.app), await createUser(t.app)]
    const body = expectProblem(await t.app.inject({ method: 'PATCH', url: `/api/v1/users/${user.id}`, headers: admin.headers, payload: { email: other.email.toUpperCase(), full_name: 'Not applied' } }), 409)
    expect(body.detail).toMatch(/email/)
    expect((await t.app.inject({ url: `/api/v1/users/${user.id}`, headers: admin.headers })).json()).toMatchObject({ email: user.email, full_name: null, updated_at: null })
  })

  it('422 for a bad id on GET, PATCH and DELETE', async () => {
    const admin = await superuser()
    for (const id of ['abc', '0', '2147483648']) {
      for (const method of ['GET', 'PATCH', 'DELETE'] as const) {
        const body = expectProblem(await t.app.inject({ method, url: `/api/v1/users/${id}`, headers: admin.headers, ...(method === 'PATCH' ? { payload: {} } : {}) }), 422)
        expect(body.errors?.map((e) => e.field)).toEqual(['path.id'])
      }
    }
  })

  it('PATCH password or is_active=false ends the user\'s sessions', async () => {
    const admin = await superuser()
    const user = await createUser(t.app)
    await t.app.inject({ method: 'PATCH', url: `/api/v1/users/${user.id}`, headers: admin.headers, payload: { password: 'set-by-admin' } })
    expectProblem(await t.app.inject({ url: '/api/v1/users/me', headers: user.headers }), 401)
    const again = await login(t.app, user.email, 'set-by-admin')
    await t.app.inject({ method: 'PATCH', url: `/api/v1/users/${user.id}`, headers: admin.headers, payload: { is_active: false } })
    expectProblem(await t.app.inject({ url: '/api/v1/users/me', headers: authHeaders(again.accessToken) }), 401)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: again.refreshToken } }), 401)
  })

  it('reactivating a user does not revive the tokens issued before the deactivation', async () => {
    const admin = await superuser()
    const user = await createUser(t.app)
    for (const is_active of [false, true]) {
      expect((await t.app.inject({ method: 'PATCH', url: `/api/v1/users/${user.id}`, headers: admin.headers, payload: { is_active } })).statusCode).toBe(200)
    }
    expectProblem(await t.app.inject({ url: '/api/v1/users/me', headers: user.headers }), 401)
    await login(t.app, user.email, user.password)
  })

  it('409 for deleting, deactivating or demoting the last active superuser', async () => {
    // Start from a state with exactly one active superuser.
    await t.database.db.update(users).set({ is_superuser: false })
    const admin = await superuser()
    for (const payload of [{ is_superuser: false }, { is_active: false }]) {
      const body = expectProblem(await t.app.inject({ method: 'PATCH', url: `/api/v1/users/${admin.id}`, headers: admin.headers, payload }), 409)
      expect(body.detail).toMatch(/last active superuser/)
    }
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/users/${admin.id}`, headers: admin.headers }), 409)
    expectProblem(await t.app.inject({ method: 'DELETE', url: '/api/v1/users/me', headers: admin.headers }), 409)
    const second = await superuser()
    expect((await t.app.inject({ method: 'PATCH', url: `/api/v1/users/${admin.id}`, headers: second.headers, payload: { is_superuser: false } })).statusCode).toBe(200)
  })
})

describe('PATCH /api/v1/users/:id by two superusers demoting each other at once', () => {
  it('exactly one demotion succeeds, the other is 409, and one active superuser remains', async () => {
    // Start from a state with exactly two active superusers.
    await t.database.db.update(users).set({ is_superuser: false })
    const [a, b] = [await superuser(), await superuser()]
    // Warm the auth cache, so that both requests pass the superuser check before either demotion commits.
    for (const admin of [a, b]) expect((await t.app.inject({ url: '/api/v1/users/me', headers: admin.headers })).json().is_superuser).toBe(true)
    const demote = (by: TestUser, target: TestUser) =>
      t.app.inject({ method: 'PATCH', url: `/api/v1/users/${target.id}`, headers: by.headers, payload: { is_superuser: false } })
    const results = await Promise.all([demote(a, b), demote(b, a)])
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 409])
    const loser = results.find((r) => r.statusCode === 409)!
    expect(expectProblem(loser, 409).detail).toMatch(/last active superuser/)
    const rows = await t.database.db.select({ id: users.id }).from(users).where(and(eq(users.is_superuser, true), eq(users.is_active, true)))
    expect(rows).toHaveLength(1)
    expect([a.id, b.id]).toContain(rows[0]!.id)
  })
})

describe('first superuser', () => {
  it('is created once, idempotently, even when two starters race', async () => {
    const service = createUsersService(t.database.db, t.config)
    const email = uniqueEmail('root')
    const created = await Promise.all([service.ensureSuperuser(email, 'root-password'), service.ensureSuperuser(email, 'root-password')])
    expect(created.filter(Boolean)).toHaveLength(1)
    expect(await service.ensureSuperuser(email, 'root-password')).toBe(false)
    const rows = await t.database.db.select().from(users).where(eq(users.email, email))
    expect(rows).toMatchObject([{ is_superuser: true, is_active: true }])
    await login(t.app, email, 'root-password')
  })
})
