import type { LightMyRequestResponse } from 'fastify'
import { describe, expect, it } from 'vitest'
import { ROLES, isAtLeast, type Role } from '../../src/modules/orgs/roles.js'
import type { Resource } from '../../src/resources/define.js'
import type { Field } from '../../src/resources/field-types.js'
import type { AccessRule, Operation } from '../../src/resources/scope.js'
import type { TestApp } from './app.js'
import { createUser, type TestUser } from './factories.js'
import { expectProblem } from './http.js'
import { addMember, createOrg } from './orgs.js'

type Body = Record<string, unknown>
type Actor = TestUser & { orgId?: number }

interface Helpers {
  validBody(actor: Actor): Promise<Body>
  valueFor(field: Field): unknown
}

/** Whether a rule lets `role` do an operation, on a row the caller created or not. */
const allows = (rule: AccessRule, role: Role, isCreator: boolean) =>
  rule === 'creator' ? isCreator || isAtLeast(role, 'admin') : isAtLeast(role, rule)

/**
 * SPEC §8 for an org resource: a non-member's answers are those of an org that does not exist, and every role gets
 * exactly what the declaration's access rules give it (403 otherwise, with nothing changed).
 */
export function describeOrgAccess(resource: Resource, app: () => TestApp, helpers: Helpers): void {
  const { name, scope } = resource
  const access = scope.access!
  const send = (user: TestUser, method: string, url: string, payload?: unknown) =>
    app().app.inject({ method: method as 'GET', url, headers: user.headers, ...(payload === undefined ? {} : { payload: payload as Body }) })
  const base = (orgId: number) => `/api/v1/orgs/${orgId}/${name}`
  const setUp = async () => {
    const owner = await createUser(app().app)
    const orgId = (await createOrg(app().app, owner)).id
    const actor = { ...owner, orgId }
    const created = await send(owner, 'POST', base(orgId), await helpers.validBody(actor))
    expect(created.statusCode, created.body).toBe(201)
    return { owner: actor, orgId, row: created.json<Body & { id: number }>() }
  }
  const [firstField] = resource.fields.filter((f) => !f.ref)
  const change = () => (firstField ? { [firstField.name]: helpers.valueFor(firstField) } : {})

  describe(`${name}: access by org role`, () => {
    it('a non-member gets the same 404 as for an org that does not exist, on every route, and nothing changes', async () => {
      const { owner, orgId, row } = await setUp()
      const stranger = await createUser(app().app)
      const body = await helpers.validBody(owner)
      const routes = (org: number): [string, string, unknown?][] => [
        ['GET', base(org)], ['POST', base(org), body], ['GET', `${base(org)}/${row.id}`],
        ['PATCH', `${base(org)}/${row.id}`, change()], ['PUT', `${base(org)}/${row.id}`, change()], ['DELETE', `${base(org)}/${row.id}`],
      ]
      for (const [i, [method, url, payload]] of routes(orgId).entries()) {
        const member = expectProblem(await send(stranger, method, url, payload), 404)
        const [, missingUrl, missingPayload] = routes(2_000_000_000)[i]!
        expect(member, `${method} ${url}`).toEqual(expectProblem(await send(stranger, method, missingUrl, missingPayload), 404))
      }
      expect((await send(owner, 'GET', `${base(orgId)}/${row.id}`)).json()).toEqual(row)
      expect((await send(owner, 'GET', base(orgId))).json<{ total: number }>().total).toBe(1)
    })

    it.each(ROLES)('%s: gets what the access rules give its role, and 403 with nothing changed for the rest', async (role) => {
      const { owner, orgId, row } = await setUp()
      const user = await createUser(app().app)
      await addMember(app().app.database, orgId, user.id, role)
      const expectAllowed = (res: LightMyRequestResponse, operation: Operation, status: number, isCreator = false) => {
        if (allows(access[operation], role, isCreator)) expect(res.statusCode, `${role} ${operation}: ${res.body}`).toBe(status)
        else expectProblem(res, 403)
      }
      expectAllowed(await send(user, 'GET', base(orgId)), 'read', 200)
      expectAllowed(await send(user, 'GET', `${base(orgId)}/${row.id}`), 'read', 200)
      const create = await send(user, 'POST', base(orgId), await helpers.validBody(owner))
      expectAllowed(create, 'create', 201)
      expectAllowed(await send(user, 'PATCH', `${base(orgId)}/${row.id}`, change()), 'update', 200)
      expectAllowed(await send(user, 'DELETE', `${base(orgId)}/${row.id}`), 'delete', 204)
      const after = await send(owner, 'GET', `${base(orgId)}/${row.id}`)
      if (!allows(access.delete, role, false)) {
        expect(after.json<Body>().updated_at === null).toBe(!allows(access.update, role, false))
      }
      if (create.statusCode === 201) {
        const own = create.json<Body & { id: number }>()
        expect(own).toMatchObject({ org_id: orgId, created_by: user.id })
        expectAllowed(await send(user, 'PATCH', `${base(orgId)}/${own.id}`, change()), 'update', 200, true)
        expectAllowed(await send(user, 'DELETE', `${base(orgId)}/${own.id}`), 'delete', 204, true)
      }
    })

    it('rows stay when their creator\'s account is deleted, with created_by null', async () => {
      const { owner, orgId } = await setUp()
      const user = await createUser(app().app)
      await addMember(app().app.database, orgId, user.id, 'admin')
      const res = await send(user, 'POST', base(orgId), await helpers.validBody(owner))
      expect(res.statusCode, res.body).toBe(201)
      expect((await send(user, 'DELETE', '/api/v1/users/me')).statusCode).toBe(204)
      const row = await send(owner, 'GET', `${base(orgId)}/${res.json<{ id: number }>().id}`)
      expect(row.json()).toEqual({ ...res.json(), created_by: null })
    })
  })
}
