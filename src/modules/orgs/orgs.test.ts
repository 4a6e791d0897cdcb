import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
import { expectProblem, isoTimestamp } from '../../../test/helpers/http.js'
import { addMember, createOrg, createOrgWithRoles } from '../../../test/helpers/orgs.js'

let t: TestApp
beforeAll(async () => { t = await buildTestApp() })
afterAll(async () => t.close())

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE'
const call = (user: TestUser, method: Method, url: string, payload?: unknown) =>
  t.app.inject({ method, url: `/api/v1${url}`, headers: user.headers, ...(payload === undefined ? {} : { payload: payload as object }) })

describe('POST /api/v1/orgs', () => {
  it('201 with Location; the creator is the owner; read back', async () => {
    const user = await createUser(t.app)
    const res = await call(user, 'POST', '/orgs', { name: 'Acme Robotics', slug: 'acme-robotics-1' })
    expect(res.statusCode).toBe(201)
    const org = res.json()
    expect(org).toEqual({ id: expect.any(Number), name: 'Acme Robotics', slug: 'acme-robotics-1', role: 'owner', created_at: isoTimestamp, updated_at: null })
    expect(res.headers.location).toBe(`/api/v1/orgs/${org.id}`)
    expect((await call(user, 'GET', `/orgs/${org.id}`)).json()).toEqual(org)
  })

  it('derives the slug from the name; a taken derived slug gets a random suffix; a taken sent slug is 409', async () => {
    const user = await createUser(t.app)
    const first = await createOrg(t.app, user, { name: 'Équipe Zürich!' })
    expect(first.slug).toBe('equipe-zurich')
    const second = await createOrg(t.app, user, { name: 'équipe zürich' })
    expect(second.slug).toMatch(/^equipe-zurich-[a-z0-9]{6}$/)
    expect((await createOrg(t.app, user, { name: 'A' })).slug).toMatch(/^org-a-[a-z0-9]{6}$/)
    expect((await createOrg(t.app, user, { name: '日本' })).slug).toMatch(/^org-[a-z0-9]{6}$/)
    expect((await createOrg(t.app, user, { name: 'x'.repeat(100) })).slug).toBe('x'.repeat(40))
    const body = expectProblem(await call(user, 'POST', '/orgs', { name: 'Other', slug: 'equipe-zurich' }), 409)
    expect(body.detail).toBe('This slug is already taken')
  })

  it('422 for a bad name or slug, unknown fields; nothing is created', async () => {
    const user = await createUser(t.app)
    for (const payload of [{}, { name: '' }, { name: 'x'.repeat(101) }, { name: 'ok', slug: 'AB' }, { name: 'ok', slug: 'ab' },
      { name: 'ok', slug: 'a_b_c' }, { name: 'ok', slug: 'x'.repeat(41) }, { name: 'ok', role: 'owner' }, { name: 'ok', id: 5 }, { name: 7 }]) {
      expectProblem(await call(user, 'POST', '/orgs', payload), 422)
    }
    expect((await call(user, 'GET', '/orgs')).json().total).toBe(0)
  })

  it('401 without a token', async () => {
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/orgs', payload: { name: 'x' } }), 401)
  })
})

describe('GET /api/v1/orgs', () => {
  it("pages the caller's orgs with its role in each, and no one else's", async () => {
    const user = await createUser(t.app)
    const other = await createUser(t.app)
    const mine = [await createOrg(t.app, user, { name: 'one' }), await createOrg(t.app, user, { name: 'two' })]
    const theirs = await createOrg(t.app, other, { name: 'three' })
    await addMember(t.database, theirs.id, user.id, 'viewer')
    await createOrg(t.app, other, { name: 'not mine' })
    const all = (await call(user, 'GET', '/orgs')).json()
    expect(all).toMatchObject({ total: 3, page: 1, size: 100 })
    expect(all.items.map((o: { id: number; role: string }) => [o.id, o.role])).toEqual([[mine[0]!.id, 'owner'], [mine[1]!.id, 'owner'], [theirs.id, 'viewer']])
    expect((await call(user, 'GET', '/orgs?skip=2&limit=2')).json()).toMatchObject({ total: 3, page: 2, size: 2, items: [{ id: theirs.id }] })
    expectProblem(await call(user, 'GET', '/orgs?limit=0'), 422)
    expectProblem(await call(user, 'GET', '/orgs?skip=-1'), 422)
  })
})

describe('a non-member sees no org at all', () => {
  it('every route under /orgs/{org_id} answers 404 with the body a nonexistent org gets', async () => {
    const { id, users } = await createOrgWithRoles(t.app, t.database)
    const stranger = await createUser(t.app)
    const routes: [Method, string, unknown?][] = [
      ['GET', ''], ['PATCH', '', { name: 'x' }], ['DELETE', ''], ['GET', '/members'],
      ['PATCH', `/members/${users.member.id}`, { role: 'viewer' }], ['DELETE', `/members/${users.member.id}`],
      ['DELETE', `/members/${stranger.id}`],
    ]
    for (const [method, path, payload] of routes) {
      const existing = expectProblem(await call(stranger, method, `/orgs/${id}${path}`, payload), 404)
      const missing = expectProblem(await call(stranger, method, `/orgs/2147483647${path}`, payload), 404)
      expect(existing, `${method} ${path}`).toEqual(missing)
      expect(existing.detail).toBe('Organization not found')
    }
    expect((await call(users.owner, 'GET', `/orgs/${id}/members`)).json().total).toBe(4)
  })
})

describe('roles × org operations', () => {
  // What each role gets from each operation on its own org (a fresh org per row, so deletes do not interfere).
  const expected: Record<string, Record<'owner' | 'admin' | 'member' | 'viewer', number>> = {
    'GET org': { owner: 200, admin: 200, member: 200, viewer: 200 },
    'PATCH org': { owner: 200, admin: 200, member: 403, viewer: 403 },
    'DELETE org': { owner: 204, admin: 403, member: 403, viewer: 403 },
    'GET members': { owner: 200, admin: 200, member: 200, viewer: 200 },
    'PATCH member→viewer': { owner: 200, admin: 200, member: 403, viewer: 403 },
    'DELETE member': { owner: 204, admin: 204, member: 403, viewer: 403 },
  }
  const requests: Record<string, (org: number, target: number) => [Method, string, unknown?]> = {
    'GET org': (org) => ['GET', `/orgs/${org}`],
    'PATCH org': (org) => ['PATCH', `/orgs/${org}`, { name: 'Renamed' }],
    'DELETE org': (org) => ['DELETE', `/orgs/${org}`],
    'GET members': (org) => ['GET', `/orgs/${org}/members`],
    'PATCH member→viewer': (org, target) => ['PATCH', `/orgs/${org}/members/${target}`, { role: 'viewer' }],
    'DELETE member': (org, target) => ['DELETE', `/orgs/${org}/members/${target}`],
  }
  for (const [operation, byRole] of Object.entries(expected)) {
    it(operation, async () => {
      for (const [role, status] of Object.entries(byRole) as ['owner' | 'admin' | 'member' | 'viewer', number][]) {
        const org = await createOrgWithRoles(t.app, t.database)
        const target = await createUser(t.app)
        await addMember(t.database, org.id, target.id, 'member')
        const [method, url, payload] = requests[operation]!(org.id, target.id)
        const res = await call(org.users[role], method, url, payload)
        expect(res.statusCode, `${role} ${operation}: ${res.body}`).toBe(status)
        if (status === 403) expectProblem(res, 403)
      }
    })
  }
})

describe('PATCH /api/v1/orgs/{org_id}', () => {
  it('changes only the fields sent and sets updated_at; 409 for a taken slug; 422 for bad input', async () => {
    const owner = await createUser(t.app)
    const org = await createOrg(t.app, owner, { name: 'Before', slug: `before-${owner.id}` })
    const other = await createOrg(t.app, owner, { name: 'Other' })
    const res = await call(owner, 'PATCH', `/orgs/${org.id}`, { name: 'After' })
    expect(res.json()).toMatchObject({ name: 'After', slug: `before-${owner.id}`, role: 'owner', updated_at: isoTimestamp })
    expect((await call(owner, 'PATCH', `/orgs/${org.id}`, { slug: `after-${owner.id}` })).json()).toMatchObject({ name: 'After', slug: `after-${owner.id}` })
    expectProblem(await call(owner, 'PATCH', `/orgs/${org.id}`, { slug: other.slug }), 409)
    expectProblem(await call(owner, 'PATCH', `/orgs/${org.id}`, { slug: 'No Caps' }), 422)
    expectProblem(await call(owner, 'PATCH', `/orgs/${org.id}`, { role: 'viewer' }), 422)
    expect((await call(owner, 'PATCH', `/orgs/${org.id}`, {})).json()).toMatchObject({ name: 'After', slug: `after-${owner.id}` })
    expect((await call(owner, 'GET', `/orgs/${org.id}`)).json()).toMatchObject({ name: 'After', slug: `after-${owner.id}` })
  })
})

describe('DELETE /api/v1/orgs/{org_id}', () => {
  it('removes the org and every membership: members then get 404 and no longer list it', async () => {
    const { id, users } = await createOrgWithRoles(t.app, t.database)
    expect((await call(users.member, 'GET', `/orgs/${id}`)).statusCode).toBe(200)
    expect((await call(users.owner, 'DELETE', `/orgs/${id}`)).statusCode).toBe(204)
    for (const user of Object.values(users)) {
      expectProblem(await call(user, 'GET', `/orgs/${id}`), 404)
      expect((await call(user, 'GET', '/orgs')).json().total).toBe(0)
    }
    expectProblem(await call(users.owner, 'DELETE', `/orgs/${id}`), 404)
  })
})

describe('GET /api/v1/orgs/{org_id}/members', () => {
  it('pages the members with email, name and role, in joining order', async () => {
    const { id, users } = await createOrgWithRoles(t.app, t.database)
    const page = (await call(users.viewer, 'GET', `/orgs/${id}/members?limit=2`)).json()
    expect(page).toEqual({
      total: 4, page: 1, size: 2,
      items: [
        { user_id: users.owner.id, email: users.owner.email, full_name: null, role: 'owner', created_at: isoTimestamp },
        { user_id: users.admin.id, email: users.admin.email, full_name: null, role: 'admin', created_at: isoTimestamp },
      ],
    })
    expect((await call(users.viewer, 'GET', `/orgs/${id}/members?skip=4`)).json()).toEqual({ total: 4, page: 1, size: 100, items: [] })
  })
})

describe('PATCH /api/v1/orgs/{org_id}/members/{user_id}', () => {
  it('an admin manages admins, members and viewers, but not owners nor the owner role', async () => {
    const { id, users } = await createOrgWithRoles(t.app, t.database)
    const patch = (actor: TestUser, target: TestUser, role: string) => call(actor, 'PATCH', `/orgs/${id}/members/${target.id}`, { role })
    expect((await patch(users.admin, users.member, 'admin')).json()).toMatchObject({ user_id: users.member.id, role: 'admin' })
    expect((await patch(users.admin, users.member, 'viewer')).json()).toMatchObject({ role: 'viewer' })
    expectProblem(await patch(users.admin, users.viewer, 'owner'), 403)
    expectProblem(await patch(users.admin, users.owner, 'admin'), 403)
    expectProblem(await patch(users.admin, users.owner, 'owner'), 403)
    expect((await patch(users.admin, users.admin, 'member')).json()).toMatchObject({ role: 'member' })
    expectProblem(await patch(users.admin, users.viewer, 'admin'), 403) // no longer admin
  })

  it('an owner grants and removes owner; the last owner cannot be demoted (409)', async () => {
    const { id, users } = await createOrgWithRoles(t.app, t.database)
    const patch = (actor: TestUser, target: TestUser, role: string) => call(actor, 'PATCH', `/orgs/${id}/members/${target.id}`, { role })
    const lastOwner = expectProblem(await patch(users.owner, users.owner, 'admin'), 409)
    expect(lastOwner.detail).toMatch(/at least one owner/)
    expect((await patch(users.owner, users.admin, 'owner')).json()).toMatchObject({ role: 'owner' })
    expect((await patch(users.admin, users.owner, 'member')).json()).toMatchObject({ role: 'member' })
    expectProblem(await patch(users.admin, users.admin, 'viewer'), 409)
    expect((await call(users.owner, 'GET', `/orgs/${id}`)).json()).toMatchObject({ role: 'member' })
  })

  it('404 for a user who is not a member (to admins), 403 for lower roles; 422 for an unknown role', async () => {
    const { id, users } = await createOrgWithRoles(t.app, t.database)
    const stranger = await createUser(t.app)
    expect(expectProblem(await call(users.admin, 'PATCH', `/orgs/${id}/members/${stranger.id}`, { role: 'member' }), 404).detail).toBe('Member not found')
    expectProblem(await call(users.member, 'PATCH', `/orgs/${id}/members/${stranger.id}`, { role: 'member' }), 403)
    for (const payload of [{ role: 'superowner' }, { role: 'Owner' }, {}, { role: 'member', user_id: 1 }]) {
      expectProblem(await call(users.owner, 'PATCH', `/orgs/${id}/members/${users.member.id}`, payload), 422)
    }
    expectProblem(await call(users.owner, 'PATCH', `/orgs/${id}/members/0`, { role: 'member' }), 422)
    expect((await call(users.owner, 'GET', `/orgs/${id}/members`)).json().items.map((m: { role: string }) => m.role)).toEqual(['owner', 'admin', 'member', 'viewer'])
  })
})

describe('DELETE /api/v1/orgs/{org_id}/members/{user_id}', () => {
  it('any member may leave, bar the last owner (409); a removed member loses access at once', async () => {
    const { id, users } = await createOrgWithRoles(t.app, t.database)
    expect((await call(users.viewer, 'GET', `/orgs/${id}`)).statusCode).toBe(200)
    expect((await call(users.viewer, 'DELETE', `/orgs/${id}/members/${users.viewer.id}`)).statusCode).toBe(204)
    expectProblem(await call(users.viewer, 'GET', `/orgs/${id}`), 404)
    expect(expectProblem(await call(users.owner, 'DELETE', `/orgs/${id}/members/${users.owner.id}`), 409).detail).toMatch(/owner/)
    expect((await call(users.admin, 'DELETE', `/orgs/${id}/members/${users.member.id}`)).statusCode).toBe(204)
    expectProblem(await call(users.member, 'GET', `/orgs/${id}/members`), 404)
    expectProblem(await call(users.admin, 'DELETE', `/orgs/${id}/members/${users.owner.id}`), 403)
    expectProblem(await call(users.admin, 'DELETE', `/orgs/${id}/members/${users.member.id}`), 404)
  })

  it('an owner removes another owner; two owners may each leave until one is left', async () => {
    const { id, users } = await createOrgWithRoles(t.app, t.database)
    await call(users.owner, 'PATCH', `/orgs/${id}/members/${users.admin.id}`, { role: 'owner' })
    expect((await call(users.admin, 'DELETE', `/orgs/${id}/members/${users.owner.id}`)).statusCode).toBe(204)
    expectProblem(await call(users.admin, 'DELETE', `/orgs/${id}/members/${users.admin.id}`), 409)
  })
})

describe('hostile input', () => {
  it('odd ids and bodies are 4xx, never 500', async () => {
    const { id, users } = await createOrgWithRoles(t.app, t.database)
    for (const url of [`/orgs/abc`, `/orgs/-1`, `/orgs/1.5`, `/orgs/99999999999`, `/orgs/${id}/members/abc`, `/orgs/${id}/members/1e3`]) {
      expect((await call(users.owner, 'GET', url)).statusCode, url).toBeLessThan(500)
      expect((await call(users.owner, 'PATCH', url, { role: 'member' })).statusCode, url).toBeLessThan(500)
    }
    for (const payload of ['{"name": "x", "name": "y", "__proto__": {"a": 1}}', '[]', 'null', '"x"', '{"name": {"$gt": ""}}']) {
      const res = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: { ...users.owner.headers, 'content-type': 'application/json' }, payload })
      expect(res.statusCode, payload).toBeGreaterThanOrEqual(400)
      expect(res.statusCode, payload).toBeLessThan(500)
    }
  })
})
