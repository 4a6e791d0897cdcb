import { Writable } from 'node:stream'
import bcrypt from 'bcrypt'
import { eq } from 'drizzle-orm'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { users } from '../../db/schema.js'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { authHeaders, createUser, login, uniqueEmail, type TestUser } from '../../../test/helpers/factories.js'
import { expectProblem } from '../../../test/helpers/http.js'
import { queuedSubjects, testClock } from '../../../test/helpers/mail.js'
import { linkToken, startSmtpServer, type TestSmtpServer } from '../../../test/helpers/smtp.js'

let smtp: TestSmtpServer
let t: TestApp
let limited: TestApp
const time = testClock()
const logLines: string[] = []
const mailEnv = () => ({ SMTP_URL: smtp.url, APP_URL: 'https://app.example', MAIL_RETRY_BASE_SECONDS: '0.05' })

beforeAll(async () => {
  smtp = await startSmtpServer()
  const logger = pino({ level: 'debug' }, new Writable({ write(chunk: Buffer, _e, done) { logLines.push(chunk.toString()); done() } }))
  t = await buildTestApp({ ...mailEnv(), EMAIL_RATE_LIMIT_PER_MINUTE: '1000' }, { clock: time.clock, logger })
  limited = await buildTestApp({ ...mailEnv(), EMAIL_RATE_LIMIT_PER_MINUTE: '3', EMAIL_COOLDOWN_SECONDS: '0' })
})
afterAll(async () => {
  await t.close()
  await limited.close()
  await smtp.close()
})
afterEach(() => { vi.restoreAllMocks() })

const recover = (email: string, app = t.app, remoteAddress = '127.0.0.1') =>
  app.inject({ method: 'POST', url: '/api/v1/auth/password-recovery', payload: { email }, remoteAddress })
const reset = (token: string, new_password: string, app = t.app) =>
  app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { token, new_password } })
const resetMail = (user: { email: string }) => smtp.waitFor((m) => m.to === user.email && m.subject.startsWith('Reset your'))

/** Asks for a reset link for `user` and returns the token of the mail that arrived. */
async function resetToken(user: TestUser, app = t.app): Promise<string> {
  expect((await recover(user.email, app)).statusCode).toBe(202)
  return linkToken(await resetMail(user), '/reset-password')
}

describe('POST /api/v1/auth/password-recovery → POST /api/v1/auth/password-reset', () => {
  it('mails a reset link from APP_URL; the reset ends every session and mails a notice', async () => {
    const user = await createUser(t.app)
    const second = await login(t.app, user.email, user.password)
    const res = await recover(user.email.toUpperCase())
    expect(res.statusCode).toBe(202)
    expect(res.json()).toEqual({ detail: 'If this address belongs to an active account, a message is on its way' })

    const mail = await resetMail(user)
    expect(mail.from).toBe('no-reply@app.example')
    expect(mail.text).toMatch(/https:\/\/app\.example\/reset-password\?token=[A-Za-z0-9_-]{43}\n/)
    expect(mail.text).toContain('within 30 minutes')
    expect(mail.text).toContain('If you did not ask for this')
    const token = linkToken(mail, '/reset-password')
    expect(mail.html).toContain(`href="https://app.example/reset-password?token=${token}"`)

    expect((await reset(token, 'a-brand-new-password')).statusCode).toBe(204)
    for (const access of [user.accessToken, second.accessToken]) {
      expectProblem(await t.app.inject({ url: '/api/v1/users/me', headers: authHeaders(access) }), 401)
    }
    for (const refresh_token of [user.refreshToken, second.refreshToken]) {
      expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token } }), 401)
    }
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: user.email, password: user.password } }), 401)
    const fresh = await login(t.app, user.email, 'a-brand-new-password')
    // The link reached the inbox: the address is proven as well.
    expect((await t.app.inject({ url: '/api/v1/users/me', headers: authHeaders(fresh.accessToken) })).json()).toMatchObject({ email_verified: true })
    const notice = await smtp.waitFor((m) => m.to === user.email && m.subject.includes('password was changed'))
    expect(notice.text).toContain('every session was signed out')
    expect(notice.html).toContain('<p>')
  })

  it('answers the same 202 for unknown, inactive and known emails, with the same work', async () => {
    const [known, inactive] = [await createUser(t.app), await createUser(t.app)]
    await t.database.db.update(users).set({ is_active: false }).where(eq(users.id, inactive.id))
    const unknown = uniqueEmail('nobody')
    const execute = vi.spyOn(t.database.db, 'execute')
    const transaction = vi.spyOn(t.database.db, 'transaction')
    const hash = vi.spyOn(bcrypt, 'hash')
    const answers = []
    for (const email of [unknown, inactive.email, known.email]) {
      const res = await recover(email)
      answers.push({ status: res.statusCode, type: res.headers['content-type'], body: res.body })
    }
    expect(answers[0]).toEqual({ status: 202, type: 'application/json; charset=utf-8', body: expect.any(String) })
    expect(answers[1]).toEqual(answers[0])
    expect(answers[2]).toEqual(answers[0])
    // One statement each, the same one: the lookup, the token and the mail are written together or not at all.
    // On PostgreSQL the event hub's polls and the invalidation bus's announcements go through db.execute too, on
    // their timers (CI once saw 4 calls): every statement of an account flow reads users, theirs never do.
    const dialect = (t.database.db as unknown as { dialect: { sqlToQuery(q: unknown): { sql: string; params: unknown[] } } }).dialect
    const statements = execute.mock.calls.map(([query]) => dialect.sqlToQuery(query)).filter((s) => /\busers\b/.test(s.sql))
    expect(statements).toHaveLength(3)
    expect(new Set(statements.map((s) => s.sql)).size).toBe(1)
    expect(statements.map((s) => s.params[0])).toEqual([unknown, inactive.email, known.email])
    expect(transaction).not.toHaveBeenCalled()
    expect(hash).not.toHaveBeenCalled()
    const resets = async (email: string) => (await queuedSubjects(t.database, email)).filter((s) => s.startsWith('Reset'))
    expect(await resets(unknown)).toEqual([])
    expect(await resets(inactive.email)).toEqual([])
    expect(await resets(known.email)).toEqual(['Reset your Keel password'])
  })

  it('400 for a used, an expired and an unknown token, all alike', async () => {
    const user = await createUser(t.app)
    const used = await resetToken(user)
    expect((await reset(used, 'first-new-password')).statusCode).toBe(204)
    const other = await createUser(t.app)
    const expiring = await resetToken(other)
    time.advance(30 * 60)
    const bodies = []
    for (const token of [used, expiring, 'A'.repeat(43), 'x']) bodies.push(expectProblem(await reset(token, 'second-new-password'), 400))
    expect(new Set(bodies.map((b) => JSON.stringify(b))).size).toBe(1)
    expect(bodies[0]!.detail).toMatch(/invalid, used or expired/)
    await login(t.app, other.email, other.password)
  })

  it('a 422 password does not burn the token', async () => {
    const user = await createUser(t.app)
    const token = await resetToken(user)
    expect(expectProblem(await reset(token, 'short'), 422).errors?.map((e) => e.field)).toEqual(['body.new_password'])
    expect(expectProblem(await reset(token, 'é'.repeat(40)), 422).errors).toEqual([{ field: 'body.new_password', message: 'must be at most 72 bytes in UTF-8' }])
    expect((await reset(token, 'long-enough-now')).statusCode).toBe(204)
  })

  it('422 for a malformed body; a new link kills the older one; a password change kills outstanding links', async () => {
    expectProblem(await recover('not-an-email'), 422)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { token: 'x' } }), 422)
    const user = await createUser(limited.app)
    const first = await resetToken(user, limited.app)
    smtp.received.splice(smtp.received.findIndex((m) => m.to === user.email && m.subject.startsWith('Reset')), 1)
    const second = await resetToken(user, limited.app)
    expect(second).not.toBe(first)
    expectProblem(await reset(first, 'some-new-password', limited.app), 400)
    await limited.app.inject({ method: 'PUT', url: '/api/v1/users/me/password', headers: user.headers, payload: { current_password: user.password, new_password: 'changed-directly' } })
    expectProblem(await reset(second, 'some-new-password', limited.app), 400)
  })

  it('per client IP: 429 after the limit, whether or not the accounts exist', async () => {
    const known = await createUser(limited.app)
    const ip = '203.0.113.7'
    for (const email of [uniqueEmail(), known.email, uniqueEmail()]) expect((await recover(email, limited.app, ip)).statusCode).toBe(202)
    const refusedKnown = await recover(known.email, limited.app, ip)
    const refusedUnknown = await recover(uniqueEmail(), limited.app, ip)
    expect(expectProblem(refusedKnown, 429)).toEqual(expectProblem(refusedUnknown, 429))
    expect(refusedKnown.headers['retry-after']).toMatch(/^\d+$/)
    expect((await recover(known.email, limited.app, '203.0.113.8')).statusCode).toBe(202)
  })

  it('per address: a repeat within the cooldown gets the same 202 and sends nothing', async () => {
    const user = await createUser(t.app)
    const first = await recover(user.email)
    const repeat = await recover(user.email.toUpperCase(), t.app, '198.51.100.9')
    expect(repeat.statusCode).toBe(202)
    expect(repeat.body).toBe(first.body)
    expect(await queuedSubjects(t.database, user.email)).toEqual(['Confirm your email for Keel', 'Reset your Keel password'])
  })

  it('a slow SMTP server never slows the request, and a refused first attempt is retried', async () => {
    const user = await createUser(t.app)
    await smtp.waitFor((m) => m.to === user.email && m.subject.startsWith('Confirm'))
    smtp.setDelay(1_000)
    smtp.refuseNext(1)
    try {
      expect((await recover(user.email)).statusCode).toBe(202)
      // Answered while the server still holds the first attempt.
      expect(smtp.received.filter((m) => m.to === user.email && m.subject.startsWith('Reset'))).toEqual([])
      const mail = await smtp.waitFor((m) => m.to === user.email && m.subject.startsWith('Reset'), 10_000)
      expect(smtp.received.filter((m) => m.messageId === mail.messageId)).toHaveLength(1)
    } finally {
      smtp.setDelay(0)
    }
  })

  it('tokens never reach the log', async () => {
    const user = await createUser(t.app)
    const token = await resetToken(user)
    expectProblem(await reset(token, 'short'), 422)
    expect((await reset(token, 'long-enough-now')).statusCode).toBe(204)
    expectProblem(await reset(token, 'long-enough-now'), 400)
    expect(logLines.length).toBeGreaterThan(0)
    expect(logLines.filter((l) => l.includes(token))).toEqual([])
  })
})
