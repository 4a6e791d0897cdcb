import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { authHeaders, createUser, login } from '../../../test/helpers/factories.js'

// Every path that touches a user's tokens locks the user row first, then token rows: under any mix of concurrent
// uses nothing deadlocks, nothing waits for a timeout, and no answer is a 5xx.

let t: TestApp
beforeAll(async () => { t = await buildTestApp() })
afterAll(async () => t.close())

const refresh = (refresh_token: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token } })
const me = (token: string) => t.app.inject({ url: '/api/v1/users/me', headers: authHeaders(token) })
const statuses = (answers: { statusCode: number }[]) => answers.map((a) => a.statusCode).sort()

describe('concurrent uses of one refresh token', () => {
  it.each([10, 50])('%i at once: exactly one 200, every other one is reuse (401), and the family is revoked', async (n) => {
    const user = await createUser(t.app)
    const answers = await Promise.all(Array.from({ length: n }, () => refresh(user.refreshToken)))
    expect(statuses(answers)).toEqual([200, ...Array<number>(n - 1).fill(401)])
    for (const res of answers.filter((a) => a.statusCode === 401)) {
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
      expect(res.headers['www-authenticate']).toBe('Bearer')
    }
    // Reuse ended every session: the winner's new pair is dead too.
    const winner = answers.find((a) => a.statusCode === 200)!.json<{ access_token: string; refresh_token: string }>()
    expect((await refresh(winner.refresh_token)).statusCode).toBe(401)
    expect((await me(winner.access_token)).statusCode).toBe(401)
    // The account itself is fine: a fresh login works.
    expect((await me((await login(t.app, user.email, user.password)).accessToken)).statusCode).toBe(200)
  })
})

describe('a mix of token paths on one user at once', () => {
  it('refreshes, logouts, a password change and an admin deactivation: no 5xx, and the user ends with no live session', async () => {
    const admin = await createUser(t.app, { superuser: true, database: t.database })
    const user = await createUser(t.app)
    const sessions = await Promise.all(Array.from({ length: 9 }, () => login(t.app, user.email, user.password)))
    const tokens = [user, ...sessions].map((s) => s.refreshToken)
    const answers = await Promise.all([
      ...tokens.flatMap((token) => [refresh(token), refresh(token)]),
      ...tokens.map((refresh_token) => t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', payload: { refresh_token } })),
      t.app.inject({
        method: 'PUT', url: '/api/v1/users/me/password', headers: user.headers,
        payload: { current_password: user.password, new_password: 'a brand new password' },
      }),
      t.app.inject({ method: 'PATCH', url: `/api/v1/users/${user.id}`, headers: admin.headers, payload: { is_active: false } }),
    ])
    expect(answers.filter((a) => a.statusCode >= 500).map((a) => a.body)).toEqual([])
    expect(answers.at(-1)!.statusCode).toBe(200)
    // Whatever won each race, none of the new tokens refreshes now: the deactivation revoked every token issued before
    // it, and a refresh after it finds the user inactive.
    const after = await Promise.all(answers.slice(0, 20).filter((a) => a.statusCode === 200)
      .map((a) => refresh(a.json<{ refresh_token: string }>().refresh_token)))
    expect(after.filter((a) => a.statusCode !== 401).map((a) => a.statusCode)).toEqual([])
  })

  it('50 logins, refreshes and logouts of one user at once all answer 2xx or 401, none 5xx', async () => {
    const user = await createUser(t.app)
    const pairs = await Promise.all(Array.from({ length: 10 }, () => login(t.app, user.email, user.password)))
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => {
      const token = pairs[i % pairs.length]!.refreshToken
      if (i % 5 === 0) return t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: user.email, password: user.password } })
      if (i % 5 === 1) return t.app.inject({ method: 'POST', url: '/api/v1/auth/logout', payload: { refresh_token: token } })
      return refresh(token)
    }))
    expect(answers.filter((a) => ![200, 204, 401].includes(a.statusCode)).map((a) => `${a.statusCode} ${a.body}`)).toEqual([])
  })
})
