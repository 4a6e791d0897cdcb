import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { authHeaders, createUser, login, uniqueEmail, type TestUser } from '../../../test/helpers/factories.js'
import { expectProblem, isoTimestamp } from '../../../test/helpers/http.js'
import { testClock } from '../../../test/helpers/mail.js'
import { createOrg, createOrgWithRoles } from '../../../test/helpers/orgs.js'
import { linkToken, startSmtpServer, type TestSmtpServer } from '../../../test/helpers/smtp.js'
import { createInvitationsRepository } from './invitations.repository.js'
import { invitations } from './invitations.table.js'

let smtp: TestSmtpServer
let t: TestApp
const time = testClock()

beforeAll(async () => {
  smtp = await startSmtpServer()
  t = await buildTestApp({ SMTP_URL: smtp.url, APP_URL: 'https://app.example/' }, { clock: time.clock })
})
afterAll(async () => {
  await t.close()
  await smtp.close()
})

const invite = (actor: TestUser, orgId: number, email: string, role = 'member') =>
  t.app.inject({ method: 'POST', url: `/api/v1/orgs/${orgId}/invitations`, headers: actor.headers, payload: { email, role } })
const accept = (user: { headers: { authorization: string } }, token: string) =>
  t.app.inject({ method: 'POST', url: '/api/v1/invitations/accept', headers: user.headers, payload: { token } })
const pending = (actor: TestUser, orgId: number) => t.app.inject({ url: `/api/v1/orgs/${orgId}/invitations`, headers: actor.headers })
const invitationMails = (email: string) => smtp.received.filter((m) => m.to === email && m.subject.includes('invited you'))
/** The token of the `nth` invitation mail to `email`, through the real SMTP server. */
const invitationToken = async (email: string, nth = 1) => {
  await smtp.waitFor(() => invitationMails(email).length >= nth)
  return linkToken(invitationMails(email)[nth - 1]!, '/accept-invitation')
}

describe('POST /api/v1/orgs/{org_id}/invitations, then POST /api/v1/invitations/accept', () => {
  it('mails a 7-day link; the invited account accepts once, joins with the role and its email counts as verified', async () => {
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner, { name: 'Acme <Labs>' })
    const invitee = await createUser(t.app)
    const res = await invite(owner, org.id, invitee.email.toUpperCase(), 'admin')
    expect(res.statusCode, res.body).toBe(201)
    expect(res.json()).toEqual({
      id: expect.any(Number), org_id: org.id, email: invitee.email, role: 'admin', invited_by: owner.id, created_at: isoTimestamp, expires_at: isoTimestamp,
    })
    expect(Date.parse(res.json().expires_at) - Date.parse(res.json().created_at)).toBe(7 * 86_400_000)
    const token = await invitationToken(invitee.email)
    const mail = invitationMails(invitee.email)[0]!
    expect(mail.subject).toBe(`${owner.email} invited you to Acme <Labs> on Keel`)
    expect(mail.text).toContain('as an admin')
    expect(mail.html).toContain(`href="https://app.example/accept-invitation?token=${token}"`)
    expect(mail.html).toContain('Acme &lt;Labs&gt;')
    expect((await pending(owner, org.id)).json()).toMatchObject({ total: 1, items: [{ email: invitee.email }] })
    expect((await pending(owner, org.id)).body).not.toContain(token)

    const accepted = await accept(invitee, token)
    expect(accepted.statusCode, accepted.body).toBe(200)
    expect(accepted.json()).toEqual({ id: org.id, name: 'Acme <Labs>', slug: org.slug, role: 'admin', created_at: isoTimestamp, updated_at: null })
    expect((await t.app.inject({ url: '/api/v1/users/me', headers: invitee.headers })).json()).toMatchObject({ email_verified: true })
    expect((await t.app.inject({ url: `/api/v1/orgs/${org.id}/members`, headers: invitee.headers })).json().total).toBe(2)
    expect((await pending(owner, org.id)).json()).toMatchObject({ total: 0, items: [] })
    expectProblem(await accept(invitee, token), 400)
  })

  it('inviting again replaces the pending invitation: the first link dies, the second works', async () => {
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner)
    const invitee = await createUser(t.app)
    const first = (await invite(owner, org.id, invitee.email, 'viewer')).json()
    const second = (await invite(owner, org.id, invitee.email, 'member')).json()
    expect(second).toMatchObject({ id: first.id, role: 'member' })
    const [old, fresh] = [await invitationToken(invitee.email, 1), await invitationToken(invitee.email, 2)]
    expect(old).not.toBe(fresh)
    expect((await pending(owner, org.id)).json().total).toBe(1)
    expectProblem(await accept(invitee, old), 400)
    expect((await accept(invitee, fresh)).json()).toMatchObject({ role: 'member' })
  })

  it('expires after 7 days: 400, and no longer listed', async () => {
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner)
    const invitee = await createUser(t.app)
    await invite(owner, org.id, invitee.email)
    const token = await invitationToken(invitee.email)
    time.advance(7 * 86_400 + 1)
    expectProblem(await accept(invitee, token), 400)
    expect((await pending(owner, org.id)).json().total).toBe(0)
    expectProblem(await t.app.inject({ url: `/api/v1/orgs/${org.id}`, headers: invitee.headers }), 404)
  })

  it('expired a day ago: the hourly sweep deletes it, and only it', async () => {
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner)
    const [old, fresh] = [uniqueEmail(), uniqueEmail()]
    await invite(owner, org.id, old)
    time.advance(8 * 86_400 + 1)
    expect((await invite(owner, org.id, fresh)).statusCode).toBe(201)
    const repository = createInvitationsRepository(t.database.db, time.clock)
    const countOf = async (email: string) => (await t.database.db.select().from(invitations).where(eq(invitations.email, email))).length
    expect(await countOf(old)).toBe(1)
    expect(await repository.sweepExpired()).toBeGreaterThanOrEqual(1)
    expect([await countOf(old), await countOf(fresh)]).toEqual([0, 1])
  })

  it('another account cannot accept (403 invitation_email_mismatch) and the link stays usable for the right one', async () => {
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner)
    const invitee = await createUser(t.app)
    const intruder = await createUser(t.app)
    await invite(owner, org.id, invitee.email)
    const token = await invitationToken(invitee.email)
    const refused = expectProblem(await accept(intruder, token), 403)
    expect(refused).toMatchObject({ code: 'invitation_email_mismatch' })
    expectProblem(await t.app.inject({ url: `/api/v1/orgs/${org.id}`, headers: intruder.headers }), 404)
    expect((await accept(invitee, token)).statusCode).toBe(200)
  })

  it('the invited person may sign up afterwards, then accept', async () => {
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner)
    const email = uniqueEmail('newcomer')
    expect((await invite(owner, org.id, email, 'viewer')).statusCode).toBe(201)
    const token = await invitationToken(email)
    expect((await t.app.inject({ method: 'POST', url: '/api/v1/users', payload: { email: email.toUpperCase(), password: 'long enough pw' } })).statusCode).toBe(201)
    const session = authHeaders((await login(t.app, email, 'long enough pw')).accessToken)
    expect((await accept({ headers: session }, token)).json()).toMatchObject({ id: org.id, role: 'viewer' })
    expect((await t.app.inject({ url: '/api/v1/users/me', headers: session })).json()).toMatchObject({ email_verified: true })
  })

  it('10 concurrent accepts of one link: exactly one joins, the others are 400', async () => {
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner)
    const invitee = await createUser(t.app)
    await invite(owner, org.id, invitee.email)
    const token = await invitationToken(invitee.email)
    const answers = await Promise.all(Array.from({ length: 10 }, () => accept(invitee, token)))
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, ...Array<number>(9).fill(400)])
  })

  it('deleting the org kills its invitations; revoking one kills its link', async () => {
    const owner = await createUser(t.app)
    const [kept, doomed] = [await createOrg(t.app, owner), await createOrg(t.app, owner)]
    const invitee = await createUser(t.app)
    const revoked = (await invite(owner, kept.id, invitee.email)).json()
    await invite(owner, doomed.id, invitee.email)
    const [first, second] = [await invitationToken(invitee.email, 1), await invitationToken(invitee.email, 2)]
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/orgs/${doomed.id}`, headers: owner.headers })).statusCode).toBe(204)
    expectProblem(await accept(invitee, second), 400)
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/orgs/${doomed.id}/invitations/${revoked.id}`, headers: owner.headers }), 404)
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/orgs/${kept.id}/invitations/${revoked.id}`, headers: owner.headers })).statusCode).toBe(204)
    expectProblem(await accept(invitee, first), 400)
    expect(expectProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/orgs/${kept.id}/invitations/${revoked.id}`, headers: owner.headers }), 404).detail)
      .toBe('Invitation not found')
  })
})

describe('who may invite, and whom', () => {
  it('admins invite at most admin, owners anyone; members and viewers 403; non-members 404; members 409', async () => {
    const org = await createOrgWithRoles(t.app, t.database)
    const { owner, admin, member, viewer } = org.users
    expect((await invite(admin, org.id, uniqueEmail(), 'admin')).statusCode).toBe(201)
    expect(expectProblem(await invite(admin, org.id, uniqueEmail(), 'owner'), 403).detail).toMatch(/owner/)
    expect((await invite(owner, org.id, uniqueEmail(), 'owner')).statusCode).toBe(201)
    expectProblem(await invite(member, org.id, uniqueEmail()), 403)
    expectProblem(await invite(viewer, org.id, uniqueEmail()), 403)
    expectProblem(await pending(member, org.id), 403)
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/orgs/${org.id}/invitations/1`, headers: viewer.headers }), 403)
    const stranger = await createUser(t.app)
    const hidden = expectProblem(await invite(stranger, org.id, uniqueEmail()), 404)
    expect(hidden).toEqual(expectProblem(await invite(stranger, 2_147_483_647, uniqueEmail()), 404))
    expectProblem(await pending(stranger, org.id), 404)
    expect(expectProblem(await invite(admin, org.id, viewer.email.toUpperCase()), 409).detail).toMatch(/member/)
    expect((await pending(owner, org.id)).json().total).toBe(2)
  })

  it('422 for an unknown role, a bad address or extra fields; nothing is sent', async () => {
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner)
    const email = uniqueEmail()
    for (const payload of [{ email, role: 'superowner' }, { email, role: 'Owner' }, { email }, { email: 'not an email', role: 'member' },
      { email, role: 'member', org_id: 1 }, { email: [email], role: 'member' }]) {
      expectProblem(await t.app.inject({ method: 'POST', url: `/api/v1/orgs/${org.id}/invitations`, headers: owner.headers, payload }), 422)
    }
    expect((await pending(owner, org.id)).json().total).toBe(0)
  })

  it('accept needs a session (401) and a token (422)', async () => {
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/invitations/accept', payload: { token: 'x' } }), 401)
    const user = await createUser(t.app)
    for (const payload of [{}, { token: '' }, { token: 'x'.repeat(257) }, { token: 'x', extra: 1 }]) {
      expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/invitations/accept', headers: user.headers, payload }), 422)
    }
    expectProblem(await accept(user, 'A'.repeat(43)), 400)
  })
})
