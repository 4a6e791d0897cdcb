import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emailTokens } from '../../db/schema.js'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, uniqueEmail, type TestUser } from '../../../test/helpers/factories.js'
import { expectProblem } from '../../../test/helpers/http.js'
import { linkToken, startSmtpServer, type TestSmtpServer } from '../../../test/helpers/smtp.js'

// Issue 19, defects 1 and 2: whoever proves control of an account (a password change or reset, a superuser's
// password or email, a deactivation) ends the email links that could take it back. The attacker's position: they
// once knew the password and asked for an email change to their own address (or for a reset link) beforehand.
let smtp: TestSmtpServer
let t: TestApp
let admin: TestUser

beforeAll(async () => {
  smtp = await startSmtpServer()
  t = await buildTestApp({ SMTP_URL: smtp.url, APP_URL: 'https://app.example', EMAIL_COOLDOWN_SECONDS: '0', EMAIL_RATE_LIMIT_PER_MINUTE: '1000' })
  admin = await createUser(t.app, { superuser: true, database: t.database })
})
afterAll(async () => {
  await t.close()
  await smtp.close()
})

const post = (url: string, payload: object, headers: Record<string, string> = {}) => t.app.inject({ method: 'POST', url, payload, headers })
const me = (user: TestUser) => t.app.inject({ url: '/api/v1/users/me', headers: user.headers })
const mailTo = (to: string, subject: string) => smtp.waitFor((m) => m.to === to && m.subject.startsWith(subject))

/** Links pending for `user`: an email change to an attacker's address and a reset link to the current address. */
async function pendingLinks(user: TestUser) {
  const attacker = uniqueEmail('attacker')
  expect((await post('/api/v1/users/me/email', { new_email: attacker, current_password: user.password }, user.headers)).statusCode).toBe(202)
  expect((await post('/api/v1/auth/password-recovery', { email: user.email })).statusCode).toBe(202)
  return {
    attacker,
    change: linkToken(await mailTo(attacker, 'Confirm your new email'), '/confirm-email-change'),
    reset: linkToken(await mailTo(user.email, 'Reset your'), '/reset-password'),
  }
}

/** Neither link works any more, and the account still has the address it had after `event`. */
async function expectLinksDead(links: { change: string; reset: string }, userId: number) {
  // The reset first: a confirmed email change would itself kill the reset link and hide its survival.
  const reset = await post('/api/v1/auth/password-reset', { token: links.reset, new_password: 'attacker-password' })
  const change = await post('/api/v1/auth/confirm-email-change', { token: links.change })
  expect({ change: change.statusCode, reset: reset.statusCode }).toEqual({ change: 400, reset: 400 })
  const left = await t.database.db.select({ purpose: emailTokens.purpose, used_at: emailTokens.used_at }).from(emailTokens).where(eq(emailTokens.user_id, userId))
  expect(left.filter((row) => row.used_at === null && row.purpose !== 'email_verification')).toEqual([])
}

const adminPatch = (user: TestUser, payload: object) =>
  t.app.inject({ method: 'PATCH', url: `/api/v1/users/${user.id}`, headers: admin.headers, payload })

describe('events that prove control of an account end the links that could undo them', () => {
  it('a password change (PUT /users/me/password)', async () => {
    const user = await createUser(t.app)
    const links = await pendingLinks(user)
    const res = await t.app.inject({ method: 'PUT', url: '/api/v1/users/me/password', headers: user.headers, payload: { current_password: user.password, new_password: 'owner-new-password' } })
    expect(res.statusCode).toBe(204)
    await expectLinksDead(links, user.id)
  })

  it('a password reset: the pending email change dies with the reset link used', async () => {
    const user = await createUser(t.app)
    const links = await pendingLinks(user)
    expect((await post('/api/v1/auth/password-reset', { token: links.reset, new_password: 'owner-new-password' })).statusCode).toBe(204)
    expectProblem(await post('/api/v1/auth/confirm-email-change', { token: links.change }), 400)
    const login = await post('/api/v1/auth/token', { email: user.email, password: 'owner-new-password' })
    expect(login.statusCode).toBe(200)
  })

  it('a superuser setting the password', async () => {
    const user = await createUser(t.app)
    const links = await pendingLinks(user)
    expect((await adminPatch(user, { password: 'set-by-an-admin' })).statusCode).toBe(200)
    await expectLinksDead(links, user.id)
  })

  it('a superuser setting the email: a reset link sent to the old address dies (defect 2)', async () => {
    const user = await createUser(t.app)
    const links = await pendingLinks(user)
    const verification = linkToken(await mailTo(user.email, 'Confirm your email'), '/verify-email')
    const email = uniqueEmail('set-by-admin')
    expect((await adminPatch(user, { email })).statusCode).toBe(200)
    await expectLinksDead(links, user.id)
    expectProblem(await post('/api/v1/auth/verify-email', { token: verification }), 400)
  })

  it('a deactivation: the links stay dead after the account is reactivated', async () => {
    const user = await createUser(t.app)
    const links = await pendingLinks(user)
    expect((await adminPatch(user, { is_active: false })).statusCode).toBe(200)
    expect((await adminPatch(user, { is_active: true })).statusCode).toBe(200)
    await expectLinksDead(links, user.id)
    // Deactivation ends every pending link, the sign-up verification link included.
    expect(await t.database.db.select({ id: emailTokens.id }).from(emailTokens).where(eq(emailTokens.user_id, user.id))).toEqual([])
  })

  it('an account deletion takes every token with it', async () => {
    const user = await createUser(t.app)
    await pendingLinks(user)
    expect((await t.app.inject({ method: 'DELETE', url: '/api/v1/users/me', headers: user.headers })).statusCode).toBe(204)
    expect(await t.database.db.select().from(emailTokens).where(eq(emailTokens.user_id, user.id))).toEqual([])
  })

  it('an edit that proves nothing (a name) leaves pending links alone', async () => {
    const user = await createUser(t.app)
    const links = await pendingLinks(user)
    expect((await adminPatch(user, { full_name: 'Renamed' })).statusCode).toBe(200)
    expect((await post('/api/v1/auth/confirm-email-change', { token: links.change })).statusCode).toBe(204)
    expect((await me(user)).statusCode).toBe(401) // the confirmed change ended every session, as before
  })
})
