import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { authHeaders, createUser, login, uniqueEmail, type TestUser } from '../../../test/helpers/factories.js'
import { expectProblem } from '../../../test/helpers/http.js'
import { testClock } from '../../../test/helpers/mail.js'
import { linkToken, startSmtpServer, type TestSmtpServer } from '../../../test/helpers/smtp.js'

let smtp: TestSmtpServer
let t: TestApp
const time = testClock()

beforeAll(async () => {
  smtp = await startSmtpServer()
  t = await buildTestApp({ SMTP_URL: smtp.url, APP_URL: 'https://app.example', LOGIN_RATE_LIMIT_PER_MINUTE: '100000' }, { clock: time.clock })
})
afterAll(async () => {
  await t.close()
  await smtp.close()
})

const requestChange = (user: TestUser, new_email: string, current_password = user.password) =>
  t.app.inject({ method: 'POST', url: '/api/v1/users/me/email', headers: user.headers, payload: { new_email, current_password } })
const confirm = (token: string) => t.app.inject({ method: 'POST', url: '/api/v1/auth/confirm-email-change', payload: { token } })
const me = (headers: { authorization: string }) => t.app.inject({ url: '/api/v1/users/me', headers })
const changeMail = (to: string) => smtp.waitFor((m) => m.to === to && m.subject.startsWith('Confirm your new email'))

describe('POST /api/v1/users/me/email → POST /api/v1/auth/confirm-email-change', () => {
  it('mails a link to the new address and a notice to the old; the email changes only on confirmation', async () => {
    const user = await createUser(t.app)
    const other = await login(t.app, user.email, user.password)
    const newEmail = uniqueEmail('moved')
    const res = await requestChange(user, newEmail.toUpperCase())
    expect(res.statusCode).toBe(202)
    const mail = await changeMail(newEmail)
    expect(mail.text).toContain('valid for 24 hours')
    const notice = await smtp.waitFor((m) => m.to === user.email && m.subject.includes('about to change'))
    expect(notice.text).toContain(newEmail)
    expect((await me(user.headers)).json()).toMatchObject({ email: user.email })

    expect((await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-recovery', payload: { email: user.email } })).statusCode).toBe(202)
    const resetLink = linkToken(await smtp.waitFor((m) => m.to === user.email && m.subject.startsWith('Reset')), '/reset-password')
    const token = linkToken(mail, '/confirm-email-change')
    expect((await confirm(token)).statusCode).toBe(204)
    // A reset link sent to the old address dies with it.
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/password-reset', payload: { token: resetLink, new_password: 'taken-over-password' } }), 400)
    // Every session ends: access and refresh tokens alike.
    for (const access of [user.accessToken, other.accessToken]) expectProblem(await me(authHeaders(access)), 401)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: other.refreshToken } }), 401)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: user.email, password: user.password } }), 401)
    const fresh = await login(t.app, newEmail, user.password)
    expect((await me(authHeaders(fresh.accessToken))).json()).toMatchObject({ id: user.id, email: newEmail, email_verified: true })
    expectProblem(await confirm(token), 400)
  })

  it('400 for a wrong current password, 409 for a taken address, 422 for bad input', async () => {
    const [user, taken] = [await createUser(t.app), await createUser(t.app)]
    expect(expectProblem(await requestChange(user, uniqueEmail(), 'wrong-password'), 400).detail).toMatch(/current password/)
    expectProblem(await requestChange(user, taken.email.toUpperCase()), 409)
    expect(expectProblem(await requestChange(user, user.email), 422).errors).toEqual([{ field: 'body.new_email', message: 'is already your email' }])
    expectProblem(await requestChange(user, 'not-an-email'), 422)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/users/me/email', headers: user.headers, payload: { new_email: uniqueEmail() } }), 422)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/users/me/email', payload: { new_email: uniqueEmail(), current_password: 'x' } }), 401)
  })

  it('409 at confirmation when the address was taken meanwhile; the email stays', async () => {
    const user = await createUser(t.app)
    const newEmail = uniqueEmail('contested')
    expect((await requestChange(user, newEmail)).statusCode).toBe(202)
    const token = linkToken(await changeMail(newEmail), '/confirm-email-change')
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/users', payload: { email: newEmail, password: 'long-enough' } })).statusCode).toBe(201)
    expectProblem(await confirm(token), 409)
    expect((await me(user.headers)).json()).toMatchObject({ email: user.email })
  })

  it('400 for an expired, unknown or other-purpose token', async () => {
    const user = await createUser(t.app)
    const newEmail = uniqueEmail('late')
    await requestChange(user, newEmail)
    const token = linkToken(await changeMail(newEmail), '/confirm-email-change')
    const verification = linkToken(await smtp.waitFor((m) => m.to === user.email && m.subject.startsWith('Confirm your email')), '/verify-email')
    expectProblem(await confirm(verification), 400)
    time.advance(24 * 3600)
    expectProblem(await confirm(token), 400)
    expectProblem(await confirm('A'.repeat(43)), 400)
    expect((await me(user.headers)).json()).toMatchObject({ email: user.email })
  })

  it('superusers still set an email directly; it is unverified until its owner proves it', async () => {
    const admin = await createUser(t.app, { superuser: true, database: t.database })
    const user = await createUser(t.app)
    const email = uniqueEmail('set-by-admin')
    const res = await t.app.inject({ method: 'PATCH', url: `/api/v1/users/${user.id}`, headers: admin.headers, payload: { email } })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ email, email_verified: false })
  })
})
