import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { authHeaders, createUser, login, uniqueEmail } from '../../../test/helpers/factories.js'
import { expectProblem } from '../../../test/helpers/http.js'
import { queuedSubjects, testClock } from '../../../test/helpers/mail.js'
import { linkToken, startSmtpServer, type TestSmtpServer } from '../../../test/helpers/smtp.js'

let smtp: TestSmtpServer
let t: TestApp
let strict: TestApp
const time = testClock()

beforeAll(async () => {
  smtp = await startSmtpServer()
  const env = { SMTP_URL: smtp.url, APP_URL: 'https://app.example/' }
  t = await buildTestApp({ ...env, EMAIL_RATE_LIMIT_PER_MINUTE: '3' }, { clock: time.clock })
  strict = await buildTestApp({ ...env, REQUIRE_EMAIL_VERIFICATION: 'true', EMAIL_COOLDOWN_SECONDS: '0' })
})
afterAll(async () => {
  await t.close()
  await strict.close()
  await smtp.close()
})

const verify = (token: string, app = t.app) => app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token } })
const me = (headers: { authorization: string }, app = t.app) => app.inject({ url: '/api/v1/users/me', headers })
const resend = (headers: { authorization: string }, remoteAddress = '127.0.0.1') =>
  t.app.inject({ method: 'POST', url: '/api/v1/users/me/verification-email', headers, remoteAddress })
const verificationMails = (email: string) => smtp.received.filter((m) => m.to === email && m.subject.startsWith('Confirm your email'))
const verificationMail = (email: string, nth = 1) => smtp.waitFor(() => verificationMails(email).length >= nth).then(() => verificationMails(email)[nth - 1]!)

describe('email verification', () => {
  it('sign-up mails a link from APP_URL; the token verifies the address once', async () => {
    const user = await createUser(t.app)
    expect((await me(user.headers)).json()).toMatchObject({ email_verified: false })
    const mail = await verificationMail(user.email)
    expect(mail.text).toContain('valid for 24 hours')
    expect(mail.html).toContain('href="https://app.example/verify-email?token=')
    const token = linkToken(mail, '/verify-email')
    expect((await verify(token)).statusCode).toBe(204)
    expect((await me(user.headers)).json()).toMatchObject({ email_verified: true, updated_at: expect.any(String) })
    expectProblem(await verify(token), 400)
  })

  it('400 for an unknown or expired token; 422 for a malformed body', async () => {
    const user = await createUser(t.app)
    const token = linkToken(await verificationMail(user.email), '/verify-email')
    time.advance(24 * 3600)
    expectProblem(await verify(token), 400)
    expectProblem(await verify('A'.repeat(43)), 400)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token: '' } }), 422)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/auth/verify-email', payload: { token, extra: 1 } }), 422)
    expect((await me(user.headers)).json()).toMatchObject({ email_verified: false })
  })

  it('resend: a new link that kills the older one; silent within the cooldown; nothing once verified', async () => {
    const user = await createUser(t.app)
    const first = linkToken(await verificationMail(user.email), '/verify-email')
    const res = await resend(user.headers, '192.0.2.1')
    expect(res.statusCode).toBe(202)
    const second = linkToken(await verificationMail(user.email, 2), '/verify-email')
    expect((await resend(user.headers, '192.0.2.1')).statusCode).toBe(202)
    expect(await queuedSubjects(t.database, user.email)).toEqual(['Confirm your email for Keel', 'Confirm your email for Keel'])
    expectProblem(await verify(first), 400)
    expect((await verify(second)).statusCode).toBe(204)
    expect((await resend(user.headers, '192.0.2.2')).statusCode).toBe(202)
    expect(await queuedSubjects(t.database, user.email)).toHaveLength(2)
  })

  it('resend is limited per client IP (429) and needs a token (401)', async () => {
    const user = await createUser(t.app)
    for (let i = 0; i < 3; i++) expect((await resend(user.headers, '192.0.2.50')).statusCode).toBe(202)
    expectProblem(await resend(user.headers, '192.0.2.50'), 429)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/users/me/verification-email' }), 401)
  })
})

describe('REQUIRE_EMAIL_VERIFICATION=true', () => {
  it('a correct login of an unverified user is 403 email_not_verified and mails a new link; verified, it logs in', async () => {
    const email = uniqueEmail()
    const signUp = await strict.app.inject({ method: 'POST', url: '/api/v1/users', payload: { email, password: 'long-enough' } })
    expect(signUp.statusCode).toBe(201)
    const first = linkToken(await verificationMail(email), '/verify-email')
    expectProblem(await strict.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email, password: 'wrong-password' } }), 401)
    const refused = await strict.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email, password: 'long-enough' } })
    expect(expectProblem(refused, 403)).toMatchObject({ code: 'email_not_verified', detail: expect.stringMatching(/Confirm your email/) })
    const second = linkToken(await verificationMail(email, 2), '/verify-email')
    expectProblem(await verify(first, strict.app), 400)
    expect((await verify(second, strict.app)).statusCode).toBe(204)
    const tokens = await login(strict.app, email, 'long-enough')
    expect((await me(authHeaders(tokens.accessToken), strict.app)).json()).toMatchObject({ email, email_verified: true })
  })

  it('the OpenAPI document shows the code in the problem schema', async () => {
    const doc = (await strict.app.inject({ url: '/openapi.json' })).json()
    expect(doc.components.schemas.Problem.properties.code).toMatchObject({ type: 'string' })
  })
})
