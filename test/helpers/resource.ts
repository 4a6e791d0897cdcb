import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { JSON_MAX_BYTES, TEXT_MAX_LENGTH, fieldType, type Field } from '../../src/resources/field-types.js'
import type { Resource } from '../../src/resources/define.js'
import { buildTestApp, type TestApp } from './app.js'
import { createUser, type TestUser } from './factories.js'
import { createOrg } from './orgs.js'
import { describeOrgAccess } from './resource-access.js'
import { expectProblem, isoTimestamp } from './http.js'

type Body = Record<string, unknown>
type Row = Body & { id: number }
/** A test user, with the org it owns when the resource is org-scoped. */
type Actor = TestUser & { orgId?: number }

let counter = 0
/** A valid value of a field; unique fields get a fresh one each call. */
export function valueFor(field: Field): unknown {
  const n = ++counter
  const example = fieldType(field).example(field)
  if (!field.unique) return example
  switch (field.type) {
    case 'string': return `u${n}`.slice(0, field.length ?? 255)
    case 'text': return `unique ${n}`
    case 'integer': return n
    case 'decimal': {
      const whole = field.precision! - field.scale!
      return whole === 0 ? `0.${String(n % 10 ** field.scale!)}` : String(n % 10 ** Math.min(whole, 9))
    }
    case 'date': return new Date(Date.UTC(2000, 0, 1) + n * 86_400_000).toISOString().slice(0, 10)
    case 'datetime': return new Date(Date.UTC(2026, 0, 1) + n * 1000).toISOString()
    default: return example
  }
}

/** A value the API must refuse with 422 on this field, per type. */
function invalidValues(field: Field): unknown[] {
  switch (field.type) {
    case 'string': return ['', 'x'.repeat((field.length ?? 255) + 1), 12]
    case 'text': return ['x'.repeat(TEXT_MAX_LENGTH + 1), false]
    case 'integer': return [1.5, 2 ** 31, '7']
    case 'decimal': return [12.5, `1.${'1'.repeat(field.scale! + 1)}`, '1e3', '9'.repeat(field.precision! - field.scale! + 1)]
    case 'boolean': return ['yes', 1]
    case 'date': return ['2026-13-01', '2026-02-30', '23/11/2026']
    case 'datetime': return ['2026-11-23T18:00:00', 'tomorrow']
    case 'enum': return ['not-a-value', '']
    case 'json': return [[1, 2], 'text', { big: 'x'.repeat(JSON_MAX_BYTES) }]
    case 'ref': return [0, 'one']
  }
}

/** What the API answers for a value sent: decimals padded to their scale, timestamps in UTC. */
function normalise(field: Field, value: unknown): unknown {
  if (value === null || value === undefined) return value
  if (field.type === 'decimal' && field.scale! > 0) {
    const [whole, fraction = ''] = String(value).split('.')
    return `${whole}.${fraction.padEnd(field.scale!, '0')}`
  }
  if (field.type === 'datetime') return new Date(value as string).toISOString()
  return value
}

/**
 * The behaviour every resource shares (SPEC §2 and §5), run against one resource: a generated test file is one call.
 * `build` gives the app (default: the real app on a fresh migrated database).
 */
export function describeResource(resource: Resource, options: { build?: () => Promise<TestApp> } = {}): void {
  const { name, fields } = resource
  let t: TestApp
  beforeAll(async () => { t = await (options.build ?? (() => buildTestApp()))() })
  afterAll(async () => t.close())

  const isOrg = resource.scope.kind === 'org'
  const path = `/api/v1${isOrg ? '/orgs/{org_id}' : ''}/${name}`
  /** A caller with a tenant of its own: a user, and for org resources an org it owns. */
  const newActor = async (): Promise<Actor> => {
    const user = await createUser(t.app)
    return isOrg ? { ...user, orgId: (await createOrg(t.app, user)).id } : user
  }
  /** The collection URL of `target` in the actor's tenant. */
  const base = (actor: Actor, target: Resource = resource) => `/api/v1${actor.orgId === undefined ? '' : `/orgs/${actor.orgId}`}/${target.name}`
  const tenantOf = (actor: Actor) => (isOrg ? { org_id: actor.orgId, created_by: actor.id } : { owner_id: actor.id })
  const send = (user: TestUser, method: string, url: string, payload?: unknown) =>
    t.app.inject({ method: method as 'GET', url, headers: user.headers, ...(payload === undefined ? {} : { payload: payload as Body }) })
  const expectOk = (res: LightMyRequestResponse, status: number) => {
    expect(res.statusCode, res.body).toBe(status)
    return res.json<Row>()
  }
  /** A full valid body; refs point at fresh rows of the same user (made through their own routes). */
  const validBody = async (user: Actor, target: Resource = resource): Promise<Body> => {
    const body: Body = {}
    for (const field of target.fields) {
      body[field.name] = field.ref ? (await createRow(user, target.refs[field.ref.resource]!)).id : valueFor(field)
    }
    return body
  }
  const createRow = async (user: Actor, target: Resource = resource, overrides: Body = {}): Promise<Row> =>
    expectOk(await send(user, 'POST', base(user, target), { ...(await validBody(user, target)), ...overrides }), 201)
  const list = async (user: Actor, query = '') => expectOk(await send(user, 'GET', `${base(user)}${query}`), 200) as unknown as { items: Row[]; total: number }

  describe(`POST ${path}`, () => {
    it('201 with the row and its Location; the row reads back the same', async () => {
      const user = await newActor()
      const body = await validBody(user)
      const res = await send(user, 'POST', `${base(user)}`, body)
      const row = expectOk(res, 201)
      expect(row).toEqual({
        id: expect.any(Number), ...Object.fromEntries(fields.map((f) => [f.name, normalise(f, body[f.name])])),
        ...tenantOf(user), created_at: isoTimestamp, updated_at: null,
      })
      expect(res.headers.location).toBe(`${base(user)}/${row.id}`)
      expect(expectOk(await send(user, 'GET', res.headers.location as string), 200)).toEqual(row)
    })

    it('fills defaults and leaves optional fields null when they are not sent', async () => {
      const user = await newActor()
      const body = await validBody(user)
      for (const field of fields) if (field.optional || field.default !== undefined) delete body[field.name]
      const row = expectOk(await send(user, 'POST', `${base(user)}`, body), 201)
      for (const field of fields.filter((f) => f.optional || f.default !== undefined)) {
        expect(row[field.name], field.name).toEqual(field.default === undefined ? null : normalise(field, field.default))
      }
    })

    const cases = [
      ...['id', 'owner_id', 'org_id', 'created_by', 'created_at', 'unknown_field'].map((key) => [`${key} sent`, key, 1] as const),
      ...fields.filter((f) => !f.optional && f.default === undefined).map((f) => [`${f.name} missing`, f.name, undefined] as const),
      ...fields.flatMap((f) => invalidValues(f).map((v) => [`${f.name}: ${JSON.stringify(v).slice(0, 40)}`, f.name, v] as const)),
      ...fields.filter((f) => !f.optional).map((f) => [`${f.name}: null`, f.name, null] as const),
    ]
    it.each(cases)('422 on body.<field> for %s, and nothing is written', async (_label, field, value) => {
      const user = await newActor()
      const body = { ...(await validBody(user)), [field]: value }
      if (value === undefined) delete body[field]
      const problem = expectProblem(await send(user, 'POST', `${base(user)}`, body), 422)
      expect(problem.errors?.map((e) => e.field)).toContain(`body.${field}`)
      expect((await list(user)).total).toBe(0)
    })

    for (const field of fields.filter((f) => f.unique)) {
      it(`409 for a second ${field.name} of the same owner; another user may use it`, async () => {
        const user = await newActor()
        const first = await createRow(user)
        expectProblem(await send(user, 'POST', `${base(user)}`, { ...(await validBody(user)), [field.name]: first[field.name] }), 409)
        const other = await newActor()
        await createRow(other, resource, { [field.name]: first[field.name] })
      })
    }
  })

  describe(`GET ${path}`, () => {
    it('pages through the caller\'s rows only, in a deterministic order', async () => {
      const user = await newActor()
      const rows = [await createRow(user), await createRow(user), await createRow(user)]
      await createRow(await newActor())
      expect(await list(user, '?skip=1&limit=1')).toEqual({ items: [rows[1]], total: 3, page: 2, size: 1, next_cursor: expect.any(String) })
      expect((await list(user, '?sort=-id')).items.map((r) => r.id)).toEqual(rows.map((r) => r.id).reverse())
      const sorts = ['id', 'created_at', ...fields.filter((f) => f.sort).map((f) => f.name)]
      for (const sort of sorts.flatMap((s) => [s, `-${s}`])) {
        const page = await list(user, `?sort=${sort}`)
        expect(page.items.map((r) => r.id).sort(), sort).toEqual(rows.map((r) => r.id).sort())
        expect(await list(user, `?sort=${sort}`), sort).toEqual(page)
      }
      expectProblem(await send(user, 'GET', `${base(user)}?sort=owner_id`), 422)
      expectProblem(await send(user, 'GET', `${base(user)}?limit=101`), 422)
    })

    for (const field of fields.filter((f) => fieldType(f).filter)) {
      it(`filters on ${field.name} by exact match`, async () => {
        const user = await newActor()
        const row = await createRow(user)
        await createRow(user)
        const value = row[field.name]
        const matching = (await list(user)).items.filter((r) => r[field.name] === value)
        const filtered = await list(user, `?${field.name}=${encodeURIComponent(String(value))}`)
        expect(filtered.items).toEqual(matching)
        expect(filtered.items.map((r) => r.id)).toContain(row.id)
      })
    }

    const searchable = fields.filter((f) => f.search)
    if (searchable.length) {
      it(`q matches a case-insensitive substring of ${searchable.map((f) => f.name).join(' or ')}, literally`, async () => {
        const user = await newActor()
        const field = searchable[0]!
        const row = await createRow(user, resource, { [field.name]: 'Needle 100% _here_' })
        await createRow(user, resource, { [field.name]: 'Needle 1000 here' })
        expect((await list(user, `?q=${encodeURIComponent('NEEDLE 100%')}`)).items.map((r) => r.id)).toEqual([row.id])
        expect((await list(user, '?q=zz-nowhere-zz')).total).toBe(0)
      })
    }
  })

  describe(`GET, PATCH, PUT and DELETE ${path}/:id`, () => {
    it('404 for another user\'s row, which stays unchanged', async () => {
      const owner = await newActor()
      const other = await newActor()
      const row = await createRow(owner)
      const change = await validBody(other)
      for (const method of ['GET', 'PATCH', 'PUT', 'DELETE']) {
        const res = await send(other, method, `${base(other)}/${row.id}`, method === 'PATCH' || method === 'PUT' ? change : undefined)
        expectProblem(res, 404)
      }
      expect(expectOk(await send(owner, 'GET', `${base(owner)}/${row.id}`), 200)).toEqual(row)
    })

    it('PATCH changes only the fields sent and stamps updated_at; an optional field can be set to null', async () => {
      const user = await newActor()
      const row = await createRow(user)
      const [first] = fields.filter((f) => !f.ref)
      const changes: Body = first ? { [first.name]: valueFor(first) } : {}
      for (const field of fields.filter((f) => f.optional)) changes[field.name] = null
      const patched = expectOk(await send(user, 'PATCH', `${base(user)}/${row.id}`, changes), 200)
      const expected = { ...row, ...Object.fromEntries(Object.entries(changes).map(([k, v]) => [k, normalise(fields.find((f) => f.name === k)!, v)])) }
      expect(patched).toEqual({ ...expected, updated_at: Object.keys(changes).length ? isoTimestamp : null })
      expect(expectOk(await send(user, 'GET', `${base(user)}/${row.id}`), 200)).toEqual(patched)
      expectProblem(await send(user, 'PUT', `${base(user)}/${row.id}`, { owner_id: 1 }), 422)
    })

    it('DELETE answers 204, then the row is gone', async () => {
      const user = await newActor()
      const row = await createRow(user)
      expect((await send(user, 'DELETE', `${base(user)}/${row.id}`)).statusCode).toBe(204)
      expectProblem(await send(user, 'GET', `${base(user)}/${row.id}`), 404)
      expectProblem(await send(user, 'DELETE', `${base(user)}/${row.id}`), 404)
    })

    it('422 for an id that is not a positive integer', async () => {
      const user = await newActor()
      expectProblem(await send(user, 'GET', `${base(user)}/abc`), 422)
    })

    it('401 without a token', async () => {
      expectProblem(await t.app.inject({ url: path.replace('{org_id}', '1') }), 401)
    })
  })

  for (const field of fields.filter((f) => f.ref)) describeRef(field)

  function describeRef(field: Field) {
    const target = resource.refs[field.ref!.resource]!
    describe(`${name}.${field.name} → ${target.name}`, () => {
      it('422 on the field for another user\'s row and for a missing one: the same answer', async () => {
        const user = await newActor()
        const others = await createRow(await newActor(), target)
        const answers = []
        for (const id of [others.id, 2_000_000_000]) {
          const res = await send(user, 'POST', `${base(user)}`, { ...(await validBody(user)), [field.name]: id })
          answers.push(expectProblem(res, 422))
          const row = await createRow(user)
          answers.push(expectProblem(await send(user, 'PATCH', `${base(user)}/${row.id}`, { [field.name]: id }), 422))
        }
        expect(answers[0]!.errors).toEqual([{ field: `body.${field.name}`, message: expect.any(String) }])
        expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1)
      })

      const rule = field.ref!.onDelete
      it(`deleting the referenced row ${rule === 'restrict' ? 'is 409 while this row exists' : rule === 'cascade' ? 'deletes this row' : 'sets the field to null'}`, async () => {
        const user = await newActor()
        const row = await createRow(user)
        const res = await send(user, 'DELETE', `${base(user, target)}/${row[field.name] as number}`)
        const after = await send(user, 'GET', `${base(user)}/${row.id}`)
        if (rule === 'restrict') {
          expectProblem(res, 409)
          expect(expectOk(after, 200)).toEqual(row)
        } else if (rule === 'cascade') {
          expect(res.statusCode).toBe(204)
          expectProblem(after, 404)
        } else {
          expect(res.statusCode).toBe(204)
          expect(expectOk(after, 200)[field.name]).toBeNull()
        }
      })

      it('deleting the account deletes its rows of both resources', async () => {
        const user = await newActor()
        await createRow(user)
        expect((await send(user, 'DELETE', '/api/v1/users/me')).statusCode).toBe(204)
      })
    })
  }

  if (isOrg) describeOrgAccess(resource, () => t, { validBody, valueFor })

  if (resource.parent) {
    const { resource: parent, field } = resource.parent
    const nested = (user: Actor, id: number) => `${base(user, parent)}/${id}/${name}`
    describe(`GET and POST ${path.replace(`/${name}`, `/${parent.name}/{${field}}/${name}`)}`, () => {
      it('creates under the parent (the path gives the field) and lists only that parent\'s rows', async () => {
        const user = await newActor()
        const here = await createRow(user, parent)
        await createRow(user)
        const body = await validBody(user)
        delete body[field]
        const res = await send(user, 'POST', nested(user, here.id), body)
        const row = expectOk(res, 201)
        expect(row[field]).toBe(here.id)
        expect(res.headers.location).toBe(`${base(user)}/${row.id}`)
        expect(expectOk(await send(user, 'GET', nested(user, here.id)), 200)).toEqual({ items: [row], total: 1, page: 1, size: 100, next_cursor: null })
        expectProblem(await send(user, 'POST', nested(user, here.id), { ...body, [field]: here.id }), 422)
      })

      it('404 when the parent is not the caller\'s, for both', async () => {
        const user = await newActor()
        const others = await createRow(await newActor(), parent)
        const body = await validBody(user)
        delete body[field]
        expectProblem(await send(user, 'GET', nested(user, others.id)), 404)
        expectProblem(await send(user, 'POST', nested(user, others.id), body), 404)
        expect((await list(user)).items.every((r) => r[field] !== others.id)).toBe(true)
      })
    })
  }
}
