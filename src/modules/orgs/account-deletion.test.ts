import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, uniqueEmail, type TestUser } from '../../../test/helpers/factories.js'
import { expectProblem } from '../../../test/helpers/http.js'
import { addMember, createOrg } from '../../../test/helpers/orgs.js'
import { invitations } from './invitations.table.js'
import { orgs } from './orgs.table.js'

let t: TestApp
beforeAll(async () => { t = await buildTestApp() })
afterAll(async () => t.close())

const deleteMe = (user: TestUser) => t.app.inject({ method: 'DELETE', url: '/api/v1/users/me', headers: user.headers })
const orgExists = async (id: number) => (await t.database.db.select({ id: orgs.id }).from(orgs).where(eq(orgs.id, id))).length === 1

describe('deleting an account that belongs to orgs (SPEC §8)', () => {
  it('409 naming the org while it is the last owner of an org with other members; nothing is deleted', async () => {
    const owner = await createUser(t.app)
    const member = await createUser(t.app)
    const org = await createOrg(t.app, owner, { name: 'Shared' })
    const alone = await createOrg(t.app, owner, { name: 'Alone' })
    await addMember(t.database, org.id, member.id, 'admin')
    const refused = expectProblem(await deleteMe(owner), 409)
    expect(refused.detail).toContain(`"Shared" (id ${org.id})`)
    expect(refused.detail).not.toContain('Alone')
    expect((await t.app.inject({ url: '/api/v1/orgs', headers: owner.headers })).json().total).toBe(2)
    expect(await orgExists(alone.id)).toBe(true)

    // Once another member is owner, the account goes, its solo org with it; the shared org stays with its new owner.
    await t.app.inject({ method: 'PATCH', url: `/api/v1/orgs/${org.id}/members/${member.id}`, headers: owner.headers, payload: { role: 'owner' } })
    expect((await deleteMe(owner)).statusCode).toBe(204)
    expect(await orgExists(alone.id)).toBe(false)
    const members = (await t.app.inject({ url: `/api/v1/orgs/${org.id}/members`, headers: member.headers })).json()
    expect(members).toMatchObject({ total: 1, items: [{ user_id: member.id, role: 'owner' }] })
  })

  it('a plain member leaves its orgs; invitations it sent stay, with invited_by null', async () => {
    const owner = await createUser(t.app)
    const admin = await createUser(t.app)
    const org = await createOrg(t.app, owner)
    await addMember(t.database, org.id, admin.id, 'admin')
    const sent = await t.app.inject({ method: 'POST', url: `/api/v1/orgs/${org.id}/invitations`, headers: admin.headers, payload: { email: uniqueEmail(), role: 'member' } })
    expect(sent.statusCode).toBe(201)
    expect((await deleteMe(admin)).statusCode).toBe(204)
    expect((await t.app.inject({ url: `/api/v1/orgs/${org.id}/members`, headers: owner.headers })).json().total).toBe(1)
    const [row] = await t.database.db.select({ invited_by: invitations.invited_by }).from(invitations).where(eq(invitations.id, sent.json().id))
    expect(row).toEqual({ invited_by: null })
  })

  it('a superuser deleting the account gets the same 409', async () => {
    const superuser = await createUser(t.app, { superuser: true, database: t.database })
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner, { name: 'Kept' })
    await addMember(t.database, org.id, (await createUser(t.app)).id, 'viewer')
    expect(expectProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/users/${owner.id}`, headers: superuser.headers }), 409).detail).toContain('"Kept"')
    expect(await orgExists(org.id)).toBe(true)
  })
})
