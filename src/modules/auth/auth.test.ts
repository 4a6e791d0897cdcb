import { randomUUID } from 'node:crypto'
import bcrypt from 'bcrypt'
import { createSigner } from 'fast-jwt'
import { eq, lt, sql } from 'drizzle-orm'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { refreshTokens, users } from '../../db/schema.js'
import { UnauthorizedError } from '../../shared/errors.js'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { authHeaders, createUser, login, uniqueEmail } from '../../../test/helpers/factories.js'
import { eventually, expectProblem } from '../../../test/helpers/http.js'
import { createAuthService } from './auth.service.js'
import { hashRefreshToken } from './auth.tokens.js'
import { createRefreshTokensRepository } from './refresh-tokens.repository.js'

let t: TestApp
beforeAll(async () => { t = await buildTestApp() })
afterAll(async () => t.close())
afterEach(() => { vi.restoreAllMocks() })

const me = (token: string) => t.app.inject({ url: '/api/v1/users/me', headers: authHeaders(token) })
const refresh = (refresh_token: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token } })

describe('POST /api/v1/auth/token', () => {
  it('logs in with JSON and answers a bearer token pair that is not cached', async () => {
    const user = await createUser(t.app)
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: user.email, password: user.password } })
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    expect(res.json()).toEqual({ access_token: expect.any(String), refresh_token: expect.any(String), token_type: 'bearer', expires_in: 1800 })
    expect((await me(res.json().access_token)).json()).toMatchObject({ id: user.id, email: user.email })
  })

  it('logs in with the OAuth2 password form, email matched case-insensitively', async () => {
    const user = await createUser(t.app)
    const res = await t.app.inject({
      method: 'POST', url: '/api/v1/auth/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'password', username: user.email.toUpperCase(), password: user.password }).toString(),
    })
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json().token_type).toBe('bearer')
  })

  it('answers the same 401 for an unknown email and a wrong password', async () => {
    const user = await createUser(t.app)
    const wrong = await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: user.email, password: 'not-the-password' } })
    const unknown = await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: uniqueEmail(), password: 'whatever-password' } })
    expect(expectProblem(wrong, 401)).toEqual(expectProblem(unknown, 401))
  })

  it('an unknown email costs exactly one bcrypt comparison and no hashing', async () => {
    const compare = vi.spyOn(bcrypt, 'compare')
    const hash = vi.spyOn(bcrypt, 'hash')
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: uniqueEmail(), password: 'whatever-password' } })
    expectProblem(res, 401)
    expect(compare).toHaveBeenCalledTimes(1)
    expect(hash).not.toHaveBeenCalled()
  })

  it('refuses a password that only matches in its first 72 bytes', async () => {
    const email = uniqueEmail()
    const password = 'a'.repeat(72)
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/users', payload: { email, password } })).statusCode).toBe(201)
    const longer = await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email, password: `${password}b` } })
    expectProblem(longer, 401)
  })

  it('answers 403 for a deactivated account with the right password', async () => {
    const user = await createUser(t.app)
    await t.database.db.update(users).set({ is_active: false }).where(eq(users.id, user.id))
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: user.email, password: user.password } })
    expectProblem(res, 403)
  })

  it('422 for no body at all (no content type)', async () => {
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/token' }), 422)
  })

  it('422 for a body missing the password, or with unknown fields', async () => {
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: 'a@b.co' } }), 422)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: 'a@b.co', password: 'x', admin: true } }), 422)
  })
})

describe('auth service', () => {
  it('hashes the dummy password when it is created, not at the first unknown email', async () => {
    const hash = vi.spyOn(bcrypt, 'hash')
    const service = createAuthService(t.database.db, t.config)
    expect(hash).toHaveBeenCalledTimes(1)
    const compare = vi.spyOn(bcrypt, 'compare')
    await expect(service.login(uniqueEmail(), 'whatever-password')).rejects.toBeInstanceOf(UnauthorizedError)
    expect(hash).toHaveBeenCalledTimes(1)
    expect(compare).toHaveBeenCalledTimes(1)
  })
})

describe('login rate limit', () => {
  let limited: TestApp
  beforeAll(async () => { limited = await buildTestApp({ LOGIN_RATE_LIMIT_PER_MINUTE: '3' }) })
  afterAll(async () => limited.close())

  it('counts every attempt per email, successful or not, then answers 429 with Retry-After', async () => {
    const user = await createUser(limited.app)
    // createUser logged in once already.
    for (let i = 0; i < 2; i++) {
      const res = await limited.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: user.email, password: 'wrong-password' }, remoteAddress: `10.0.0.${i + 1}` })
      expect(res.statusCode).toBe(401)
    }
    const blocked = await limited.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: user.email.toUpperCase(), password: user.password }, remoteAddress: '10.0.0.9' })
    expectProblem(blocked, 429)
    expect(Number(blocked.headers['retry-after'])).toBeGreaterThanOrEqual(1)
    expect(blocked.headers['ratelimit-limit']).toBe('3')
  })

  it('counts every attempt per client IP across emails', async () => {
    for (let i = 0; i < 3; i++) {
      const res = await limited.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: uniqueEmail(), password: 'password-x' }, remoteAddress: '10.9.9.9' })
      expect(res.statusCode).toBe(401)
    }
    expectProblem(await limited.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: uniqueEmail(), password: 'password-x' }, remoteAddress: '10.9.9.9' }), 429)
  })
})

describe('access tokens', () => {
  const sign = (payload: Record<string, unknown>, key = t.config.secretKey, algorithm: 'HS256' | 'HS512' = 'HS256', expiresIn = 60_000) =>
    createSigner({ key, algorithm, expiresIn })(payload)

  it('are HS256 JWTs of type access with a jti, the user as sub and ACCESS_TOKEN_EXPIRE_MINUTES of life', async () => {
    const user = await createUser(t.app)
    const [header, payload] = user.accessToken.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url').toString()))
    expect(header).toMatchObject({ alg: 'HS256', typ: 'JWT' })
    expect(payload).toMatchObject({ sub: String(user.id), type: 'access', jti: expect.any(String) })
    expect(payload.jti.length).toBeGreaterThan(0)
    // The default ACCESS_TOKEN_EXPIRE_MINUTES, 30.
    expect(payload.exp - payload.iat).toBe(30 * 60)
  })

  it('401 with a Bearer challenge without a token, with a malformed header or garbage', async () => {
    expectProblem(await t.app.inject({ url: '/api/v1/users/me' }), 401)
    expectProblem(await t.app.inject({ url: '/api/v1/users/me', headers: { authorization: 'Basic abc' } }), 401)
    expectProblem(await me('not.a.jwt'), 401)
  })

  it('401 for tampered, alg none, other-algorithm, expired and wrong-type tokens', async () => {
    const user = await createUser(t.app)
    const [h, p, s] = user.accessToken.split('.')
    const claims = JSON.parse(Buffer.from(p!, 'base64url').toString())
    const tampered = `${h}.${Buffer.from(JSON.stringify({ ...claims, sub: '999999' })).toString('base64url')}.${s}`
    const none = `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${p}.`
    const base = { sub: String(user.id), ver: 0, jti: 'x' }
    for (const token of [
      tampered,
      none,
      sign({ ...base, type: 'access' }, t.config.secretKey, 'HS512'),
      sign({ ...base, type: 'access' }, 'another-secret-key-another-secret-key'),
      sign({ ...base, type: 'access', exp: Math.floor(Date.now() / 1000) - 10, iat: Math.floor(Date.now() / 1000) - 100 }, t.config.secretKey, 'HS256', 0),
      sign({ ...base, type: 'refresh' }),
      sign({ ...base, type: 'access', sub: 'abc' }),
      user.refreshToken,
    ]) {
      expectProblem(await me(token), 401)
    }
    expect((await me(sign({ ...base, type: 'access' }))).statusCode).toBe(200)
  })

  it('a user changed outside the API (psql, another instance) is dropped from the auth cache through NOTIFY', async () => {
    const user = await createUser(t.app)
    expect((await me(user.accessToken)).statusCode).toBe(200)
    await t.database.db.update(users).set({ is_active: false }).where(eq(users.id, user.id))
    await eventually(async () => { expectProblem(await me(user.accessToken), 401) })
  })

  it('401 once the user is deactivated or deleted', async () => {
    const user = await createUser(t.app)
    await t.database.db.update(users).set({ is_active: false }).where(eq(users.id, user.id))
    expectProblem(await me(user.accessToken), 401)
    const other = await createUser(t.app)
    expect((await t.app.inject({ method: 'DELETE', url: '/api/v1/users/me', headers: other.headers })).statusCode).toBe(204)
    expectProblem(await me(other.accessToken), 401)
    expectProblem(await refresh(other.refreshToken), 401)
  })
})

describe('POST /api/v1/auth/refresh', () => {
  it('rotates: the new pair works, the old refresh token is dead', async () => {
    const user = await createUser(t.app)
    const res = await refresh(user.refreshToken)
    expect(res.statusCode).toBe(200)
    expect(res.headers['cache-control']).toBe('no-store')
    const pair = res.json()
    expect(pair.refresh_token).not.toBe(user.refreshToken)
    expect((await me(pair.access_token)).statusCode).toBe(200)
    expect((await refresh(pair.refresh_token)).statusCode).toBe(200)
    expectProblem(await refresh(user.refreshToken), 401)
  })

  it('reuse of a rotated token revokes every refresh token of the user', async () => {
    const user = await createUser(t.app)
    const otherSession = await login(t.app, user.email, user.password)
    const rotated = (await refresh(user.refreshToken)).json()
    expect((await me(rotated.access_token)).statusCode).toBe(200)
    expectProblem(await refresh(user.refreshToken), 401)
    expectProblem(await refresh(rotated.refresh_token), 401)
    expectProblem(await refresh(otherSession.refreshToken), 401)
    // Access tokens minted from the stolen token die too.
    expectProblem(await me(rotated.access_token), 401)
    expectProblem(await me(otherSession.accessToken), 401)
  })

  it('stores only a hash of the refresh token', async () => {
    const user = await createUser(t.app)
    const rows = await t.database.db.select().from(refreshTokens).where(eq(refreshTokens.user_id, user.id))
    expect(rows).toHaveLength(1)
    expect(rows[0]!.token_hash).toBe(hashRefreshToken(user.refreshToken))
    expect(JSON.stringify(rows)).not.toContain(user.refreshToken)
    // 256 random bits, base64url without padding.
    expect(user.refreshToken).toMatch(/^[A-Za-z0-9_-]{43}$/)
    // The default REFRESH_TOKEN_EXPIRE_DAYS, 14; a minute either way.
    const expected = Date.now() + 14 * 24 * 60 * 60 * 1000
    expect(Math.abs(rows[0]!.expires_at.getTime() - expected)).toBeLessThan(60_000)
  })

  it('401 for unknown or expired tokens, 422 for a malformed body', async () => {
    expectProblem(await refresh('unknown-token'), 401)
    const user = await createUser(t.app)
    await t.database.db.update(refreshTokens).set({ expires_at: new Date(Date.now() - 1000) }).where(eq(refreshTokens.user_id, user.id))
    expectProblem(await refresh(user.refreshToken), 401)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: {} }), 422)
  })

  it('one of two concurrent refreshes with the same token wins; the other is treated as reuse', async () => {
    const user = await createUser(t.app)
    const results = await Promise.all([refresh(user.refreshToken), refresh(user.refreshToken)])
    expect(results.map((r) => r.statusCode).sort()).toEqual([200, 401])
  })

  it('expired tokens are deleted at the next login', async () => {
    const user = await createUser(t.app)
    await t.database.db.update(refreshTokens).set({ expires_at: new Date(Date.now() - 1000) }).where(eq(refreshTokens.user_id, user.id))
    await login(t.app, user.email, user.password)
    const rows = await t.database.db.select().from(refreshTokens).where(eq(refreshTokens.user_id, user.id))
    expect(rows).toHaveLength(1)
    expect(rows[0]!.expires_at.getTime()).toBeGreaterThan(Date.now())
  })
})

describe('expired refresh-token sweep', () => {
  it('sweepExpired() removes every user\'s expired tokens and keeps live ones', async () => {
    const repo = createRefreshTokensRepository(t.database.db)
    const [a, b] = [await createUser(t.app), await createUser(t.app)]
    for (const user of [a, b]) {
      await repo.insert({ user_id: user.id, family_id: randomUUID(), token_hash: `expired-${randomUUID()}`, expires_at: new Date(Date.now() - 60_000) })
    }
    const tokensOf = (userId: number) => t.database.db.select().from(refreshTokens).where(eq(refreshTokens.user_id, userId))
    expect(await tokensOf(a.id)).toHaveLength(2)
    expect(await repo.sweepExpired()).toBeGreaterThanOrEqual(2)
    for (const user of [a, b]) {
      const rows = await tokensOf(user.id)
      expect(rows.map((r) => r.token_hash)).toEqual([hashRefreshToken(user.refreshToken)])
    }
    expect(await t.database.db.select().from(refreshTokens).where(lt(refreshTokens.expires_at, sql`now()`))).toEqual([])
    expect((await refresh(a.refreshToken)).statusCode).toBe(200)
  })
})

describe('POST /api/v1/auth/logout', () => {
  it('revokes the session and is idempotent', async () => {
    const user = await createUser(t.app)
    const logout = () => t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', payload: { refresh_token: user.refreshToken } })
    expect((await logout()).statusCode).toBe(204)
    expectProblem(await refresh(user.refreshToken), 401)
    expect((await logout()).statusCode).toBe(204)
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', payload: { refresh_token: 'never-issued' } })).statusCode).toBe(204)
  })

  it('422 for a malformed body', async () => {
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', payload: { token: 'x' } }), 422)
  })
})
