import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fixtureMigrationsDir, fixtureResources, projects, tasks } from './fixtures/resources.js'
import { buildTestApp, type TestApp } from './helpers/app.js'
import { createUser, type TestUser } from './helpers/factories.js'
import { expectProblem } from './helpers/http.js'

// Issue 19, defect 5: one rule for every id in a path, the parent's in a nested route included: plain decimal
// digits, or the same 422 as 'abc'. Ajv's coercion alone turned '0x2', '2.0' or '1e0' into 2.
let t: TestApp
let user: TestUser
let projectId: number
const field = tasks.parent!.field

beforeAll(async () => {
  t = await buildTestApp({}, { resources: fixtureResources, migrationsDir: fixtureMigrationsDir() })
  user = await createUser(t.app)
  const created = await t.app.inject({ method: 'POST', url: `/api/v1/${projects.name}`, headers: user.headers, payload: { title: 'Parent', code: 'P2' } })
  expect(created.statusCode, created.body).toBe(201)
  projectId = created.json<{ id: number }>().id
})
afterAll(async () => t.close())

const nested = (id: string) => `/api/v1/${projects.name}/${id}/${tasks.name}`
const variants = (id: number) => [`0x${id.toString(16)}`, `${id}.0`, `${id}e0`, `0${id}`, `+${id}`, `%20${id}`, `${id}%20`, '0', '-1']

describe('a parent id in a nested route', () => {
  it('is a plain decimal or a 422 naming the parameter, on GET and POST; the decimal form works', async () => {
    expect((await t.app.inject({ url: nested(String(projectId)), headers: user.headers })).statusCode).toBe(200)
    for (const bad of variants(projectId)) {
      for (const method of ['GET', 'POST'] as const) {
        const res = await t.app.inject({ method, url: nested(bad), headers: user.headers, ...(method === 'POST' ? { payload: { title: 'x' } } : {}) })
        const body = expectProblem(res, 422)
        expect(body.errors, `${method} ${bad}`).toEqual([{ field: `path.${field}`, message: 'must be a positive decimal integer' }])
      }
    }
    const listed = await t.app.inject({ url: nested(String(projectId)), headers: user.headers })
    expect(listed.json<{ total: number }>().total).toBe(0) // none of the refused POSTs wrote anything
  })

  it('a row id keeps the same rule', async () => {
    for (const bad of variants(projectId)) expectProblem(await t.app.inject({ url: `/api/v1/${projects.name}/${bad}`, headers: user.headers }), 422)
  })
})
