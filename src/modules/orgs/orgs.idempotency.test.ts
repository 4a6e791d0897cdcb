import { and, eq, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, uniqueEmail, type TestUser } from '../../../test/helpers/factories.js'
import { expectProblem } from '../../../test/helpers/http.js'
import { createOrg } from '../../../test/helpers/orgs.js'
import { mailOutbox } from '../mail/mail-outbox.table.js'
import { invitations } from './invitations.table.js'

let t: TestApp
beforeAll(async () => { t = await buildTestApp() })
afterAll(async () => t.close())

const post = (user: TestUser, url: string, key: string | undefined, payload: object) => t.app.inject({
  method: 'POST', url: `/api/v1${url}`, payload,
  headers: { ...user.headers, ...(key === undefined ? {} : { 'idempotency-key': key }) },
})
const orgCount = async (user: TestUser) => (await t.app.inject({ url: '/api/v1/orgs', headers: user.headers })).json().total as number
const invitationCount = async (orgId: number, email: string) => {
  const [row] = await t.database.db.select({ n: sql<number>`count(*)::int` }).from(invitations)
    .where(and(eq(invitations.org_id, orgId), eq(invitations.email, email)))
  return row!.n
}
const mailCount = async (email: string) => {
  const [row] = await t.database.db.select({ n: sql<number>`count(*)::int` }).from(mailOutbox).where(eq(mailOutbox.recipient, email))
  return row!.n
}
const fresh = (r: { statusCode: number; headers: Record<string, unknown> }) => r.statusCode === 201 && r.headers['idempotent-replayed'] === undefined

describe('Idempotency-Key on POST /api/v1/orgs', () => {
  it('replays the first answer (status, Location, body) for a repeat, with Idempotent-Replayed; one org', async () => {
    const user = await createUser(t.app)
    const first = await post(user, '/orgs', 'org-1', { name: 'Once Inc' })
    expect(first.statusCode, first.body).toBe(201)
    expect(first.headers['idempotent-replayed']).toBeUndefined()
    const again = await post(user, '/orgs', 'org-1', { name: 'Once Inc' })
    expect(again.statusCode).toBe(201)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.json()).toEqual(first.json())
    expect(again.headers.location).toBe(first.headers.location)
    expect(await orgCount(user)).toBe(1)
  })

  it('422 for the same key with another body; keys are per caller', async () => {
    const user = await createUser(t.app)
    expect((await post(user, '/orgs', 'org-2', { name: 'A org' })).statusCode).toBe(201)
    const problem = expectProblem(await post(user, '/orgs', 'org-2', { name: 'B org' }), 422)
    expect(problem.errors).toEqual([{ field: 'headers.idempotency-key', message: 'was already used with another request' }])
    const other = await createUser(t.app)
    expect(fresh(await post(other, '/orgs', 'org-2', { name: 'B org' }))).toBe(true)
    expect([await orgCount(user), await orgCount(other)]).toEqual([1, 1])
  })

  it('a taken derived slug is retried inside the key\'s transaction; a taken sent slug is 409 and keeps nothing', async () => {
    const user = await createUser(t.app)
    const taken = await createOrg(t.app, user, { name: 'Savepoint Labs' })
    const derived = await post(user, '/orgs', 'org-3', { name: 'Savepoint Labs' })
    expect(derived.statusCode, derived.body).toBe(201)
    expect(derived.json().slug).toMatch(new RegExp(`^${taken.slug}-[a-z0-9]{6}$`))
    expectProblem(await post(user, '/orgs', 'org-4', { name: 'Other', slug: taken.slug }), 409)
    expect(fresh(await post(user, '/orgs', 'org-4', { name: 'Other', slug: `${taken.slug}-free` }))).toBe(true)
    expect(await orgCount(user)).toBe(3)
  })

  it('10 concurrent POSTs with one key create one org; the others replay it or are told it is in flight (409)', async () => {
    const user = await createUser(t.app)
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(user, '/orgs', 'org-race', { name: 'Race Ltd' })))
    expect(answers.map((r) => r.statusCode).filter((s) => s !== 201 && s !== 409)).toEqual([])
    expect(answers.filter(fresh)).toHaveLength(1)
    expect(await orgCount(user)).toBe(1)
  })
})

describe('Idempotency-Key on POST /api/v1/orgs/{org_id}/invitations', () => {
  it('replays the first answer; one invitation and one mail', async () => {
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner)
    const email = uniqueEmail()
    const first = await post(owner, `/orgs/${org.id}/invitations`, 'inv-1', { email, role: 'member' })
    expect(first.statusCode, first.body).toBe(201)
    const again = await post(owner, `/orgs/${org.id}/invitations`, 'inv-1', { email, role: 'member' })
    expect(again.statusCode).toBe(201)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.json()).toEqual(first.json())
    expect([await invitationCount(org.id, email), await mailCount(email)]).toEqual([1, 1])
  })

  it('422 for the same key with another body; errors of the invitation itself keep nothing', async () => {
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner)
    const email = uniqueEmail()
    expect((await post(owner, `/orgs/${org.id}/invitations`, 'inv-2', { email, role: 'member' })).statusCode).toBe(201)
    expectProblem(await post(owner, `/orgs/${org.id}/invitations`, 'inv-2', { email, role: 'admin' }), 422)
    expectProblem(await post(owner, `/orgs/${org.id}/invitations`, 'inv-3', { email: owner.email, role: 'member' }), 409)
    expectProblem(await post(owner, `/orgs/${org.id}/invitations`, 'inv-3', { email: owner.email, role: 'member' }), 409)
    const outsider = await createUser(t.app)
    expectProblem(await post(outsider, `/orgs/${org.id}/invitations`, 'inv-2', { email, role: 'member' }), 404)
    expect([await invitationCount(org.id, email), await mailCount(email)]).toEqual([1, 1])
  })

  it('10 concurrent POSTs with one key make one invitation and one mail', async () => {
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner)
    const email = uniqueEmail()
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(owner, `/orgs/${org.id}/invitations`, 'inv-race', { email, role: 'viewer' })))
    expect(answers.map((r) => r.statusCode).filter((s) => s !== 201 && s !== 409)).toEqual([])
    expect(answers.filter(fresh)).toHaveLength(1)
    expect([await invitationCount(org.id, email), await mailCount(email)]).toEqual([1, 1])
  })
})
