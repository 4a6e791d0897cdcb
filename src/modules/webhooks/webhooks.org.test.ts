import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
import { expectProblem } from '../../../test/helpers/http.js'
import { createOrgWithRoles, type TestOrg } from '../../../test/helpers/orgs.js'

let t: TestApp
let org: TestOrg
let outsider: TestUser
let endpointId: number
beforeAll(async () => {
  t = await buildTestApp({ WEBHOOK_ALLOW_PRIVATE: 'true' })
  org = await createOrgWithRoles(t.app, t.database)
  outsider = await createUser(t.app)
  const created = await t.app.inject({
    method: 'POST', url: `/api/v1/orgs/${org.id}/webhooks`, headers: org.users.admin.headers, payload: { url: 'https://example.com/hook' },
  })
  endpointId = created.json<{ id: number }>().id
})
afterAll(async () => t.close())

/** Every org webhook route, for an org and an endpoint id. */
const routes = (orgId: number, id: number) => [
  { method: 'POST' as const, url: `/api/v1/orgs/${orgId}/webhooks`, payload: { url: 'https://example.com/other' } },
  { method: 'GET' as const, url: `/api/v1/orgs/${orgId}/webhooks` },
  { method: 'PATCH' as const, url: `/api/v1/orgs/${orgId}/webhooks/${id}`, payload: { enabled: false } },
  { method: 'GET' as const, url: `/api/v1/orgs/${orgId}/webhooks/${id}/deliveries` },
  { method: 'DELETE' as const, url: `/api/v1/orgs/${orgId}/webhooks/${id}` },
]

describe('/api/v1/orgs/:org_id/webhooks', () => {
  it('admins and owners manage the org\'s endpoints; the secret is shown once', async () => {
    const res = await t.app.inject({
      method: 'POST', url: `/api/v1/orgs/${org.id}/webhooks`, headers: org.users.owner.headers, payload: { url: 'https://example.com/owner', types: ['items.created'] },
    })
    expect(res.statusCode, res.body).toBe(201)
    const { id, secret } = res.json<{ id: number; secret: string }>()
    expect(secret).toMatch(/^whsec_/)
    const listed = await t.app.inject({ url: `/api/v1/orgs/${org.id}/webhooks`, headers: org.users.admin.headers })
    expect(listed.statusCode).toBe(200)
    expect(listed.json<{ items: { id: number }[] }>().items.map((e) => e.id)).toEqual([endpointId, id])
    expect(listed.body).not.toContain(secret)
    const deliveries = await t.app.inject({ url: `/api/v1/orgs/${org.id}/webhooks/${id}/deliveries`, headers: org.users.admin.headers })
    expect(deliveries.json()).toMatchObject({ items: [], total: 0 })
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/orgs/${org.id}/webhooks/${id}`, headers: org.users.owner.headers })).statusCode).toBe(204)
  })

  it('403 for a member or a viewer on every route, and nothing changes', async () => {
    for (const role of ['member', 'viewer'] as const) {
      for (const route of routes(org.id, endpointId)) {
        const body = expectProblem(await t.app.inject({ ...route, headers: org.users[role].headers }), 403)
        expect(body.detail, `${role} ${route.method} ${route.url}`).toBe('This needs the admin role or higher in this organization')
      }
    }
    const still = await t.app.inject({ url: `/api/v1/orgs/${org.id}/webhooks`, headers: org.users.admin.headers })
    expect(still.json()).toMatchObject({ total: 1, items: [{ id: endpointId, enabled: true }] })
  })

  it('404 for a non-member on every route, the same answer as for an org that does not exist', async () => {
    for (const [i, route] of routes(org.id, endpointId).entries()) {
      const res = await t.app.inject({ ...route, headers: outsider.headers })
      const missing = await t.app.inject({ ...routes(2_000_000_000, endpointId)[i]!, headers: outsider.headers })
      expect(expectProblem(res, 404), `${route.method} ${route.url}`).toEqual(expectProblem(missing, 404))
    }
  })

  it('404 for another org\'s endpoint, even to that org\'s admin', async () => {
    const other = await createOrgWithRoles(t.app, t.database)
    for (const route of routes(other.id, endpointId).slice(2)) {
      expect(expectProblem(await t.app.inject({ ...route, headers: other.users.admin.headers }), 404).detail).toBe('Webhook not found')
    }
  })
})
