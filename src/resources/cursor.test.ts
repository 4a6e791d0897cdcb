import { sql } from 'drizzle-orm'
import type { LightMyRequestResponse } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../test/helpers/app.js'
import { createUser, type TestUser } from '../../test/helpers/factories.js'
import { expectProblem } from '../../test/helpers/http.js'
import { fixtureMigrationsDir, fixtureResources } from '../../test/fixtures/resources.js'

type Row = { id: number } & Record<string, unknown>
interface Page { items: Row[]; total: number | null; page: number | null; size: number; next_cursor: string | null }

let t: TestApp
beforeAll(async () => { t = await buildTestApp({}, { resources: fixtureResources, migrationsDir: fixtureMigrationsDir() }) })
afterAll(async () => t.close())

const get = (user: TestUser, url: string) => t.app.inject({ url, headers: user.headers })
const ok = (res: LightMyRequestResponse): Page => {
  expect(res.statusCode, res.body).toBe(200)
  return res.json<Page>()
}
const post = async (user: TestUser, url: string, payload: Record<string, unknown>): Promise<Row> => {
  const res = await t.app.inject({ method: 'POST', url, headers: user.headers, payload })
  expect(res.statusCode, res.body).toBe(201)
  return res.json<Row>()
}

/** Every page of `base` by cursor (`limit` rows each), calling `between` after each page: the rows in the order seen. */
async function walk(user: TestUser, base: string, limit: number, between: () => Promise<void> = async () => undefined): Promise<Row[]> {
  const seen: Row[] = []
  let cursor: string | null = ''
  while (cursor !== null) {
    const res = await get(user, `${base}${base.includes('?') ? '&' : '?'}limit=${limit}&cursor=${encodeURIComponent(cursor)}`)
    const page = ok(res)
    expect(page).toMatchObject({ total: null, page: null, size: limit })
    expect(page.items.length).toBeLessThanOrEqual(limit)
    if (page.next_cursor) expect(res.headers.link).toContain('rel="next"')
    else expect(res.headers.link).toBeUndefined()
    seen.push(...page.items)
    cursor = page.next_cursor
    await between()
  }
  return seen
}

describe('cursor pages while another client writes', () => {
  // Items: sorts on a non-null text, a timestamp and the id; tasks: ties on priority, a nullable due_at (NULLs).
  const cases = [
    ...['id', '-id', 'name', '-name', 'created_at', '-created_at'].map((sort) => ['items', sort] as const),
    ...['priority', '-priority', 'due_at', '-due_at', '-created_at'].map((sort) => ['fixture_tasks', sort] as const),
  ]

  it.each(cases)('%s?sort=%s: every row that exists throughout is seen exactly once', async (resource, sort) => {
    const user = await createUser(t.app)
    const project = await post(user, '/api/v1/fixture_projects', { title: 'P', code: `c${user.id}` })
    const make = async (n: number) => post(user, `/api/v1/${resource}`, resource === 'items'
      ? { name: `n${n % 5}` }
      : { title: `t${n}`, project_id: project.id, priority: n % 3, due_at: n % 4 === 0 ? null : new Date(Date.UTC(2026, 0, 1 + (n % 5))).toISOString() })
    const stable = [] as Row[]
    const doomed = [] as Row[]
    for (let n = 0; n < 24; n++) (n % 3 === 0 ? doomed : stable).push(await make(n))

    let n = 100
    const writer = async () => {
      const victim = doomed.pop()
      if (victim) expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/${resource}/${victim.id}`, headers: user.headers })).statusCode).toBe(204)
      await make(n++)
    }
    const seen = await walk(user, `/api/v1/${resource}?sort=${sort}`, 5, writer)

    const ids = seen.map((r) => r.id)
    expect(new Set(ids).size, 'no row twice').toBe(ids.length)
    for (const row of stable) expect(ids.filter((id) => id === row.id), `row ${row.id}`).toHaveLength(1)
    // The order is the sort's: the same as an offset list of the rows seen that still exist.
    const all = ok(await get(user, `/api/v1/${resource}?sort=${sort}&limit=100`)).items.map((r) => r.id)
    expect(ids.filter((id) => all.includes(id))).toEqual(all.filter((id) => ids.includes(id)))
  })
})

describe('cursor positions', () => {
  it('keep a timestamp\'s microseconds: rows a microsecond apart are all seen, once', async () => {
    const user = await createUser(t.app)
    await t.database.db.execute(sql`insert into items (name, owner_id, created_at)
      select 'µ' || n, ${user.id}, timestamptz '2026-01-01 00:00:00.000001+00' + n * interval '1 microsecond' from generate_series(0, 5) n`)
    for (const sort of ['created_at', '-created_at']) {
      const seen = await walk(user, `/api/v1/items?sort=${sort}`, 1)
      expect(seen.map((r) => r.name)).toEqual(sort === 'created_at' ? ['µ0', 'µ1', 'µ2', 'µ3', 'µ4', 'µ5'] : ['µ5', 'µ4', 'µ3', 'µ2', 'µ1', 'µ0'])
    }
  })

  it('an offset page has next_cursor and Link to continue by keyset; the last page has neither', async () => {
    const user = await createUser(t.app)
    for (let n = 0; n < 5; n++) await post(user, '/api/v1/items', { name: `o${n}` })
    const res = await get(user, '/api/v1/items?sort=name&skip=1&limit=2&q=o')
    const first = ok(res)
    expect(first).toMatchObject({ total: 5, page: 1, size: 2 })
    expect(first.items.map((r) => r.name)).toEqual(['o1', 'o2'])
    const link = /^<([^>]+)>; rel="next"$/.exec(res.headers.link as string)![1]!
    expect(link).not.toContain('skip=')
    const next = ok(await get(user, link))
    expect(next).toMatchObject({ total: null, page: null })
    expect(next.items.map((r) => r.name)).toEqual(['o3', 'o4'])
    expect(next.next_cursor).toBeNull()
    const last = await get(user, '/api/v1/items?sort=name&skip=3&limit=2&q=o')
    expect(ok(last).next_cursor).toBeNull()
    expect(last.headers.link).toBeUndefined()
    expect(ok(await get(user, '/api/v1/items?cursor=&q=nothing-matches'))).toEqual({ items: [], total: null, page: null, size: 100, next_cursor: null })
  })
})

describe('cursors are bound to their list', () => {
  let user: TestUser
  let cursor: string
  beforeAll(async () => {
    user = await createUser(t.app)
    for (let n = 0; n < 3; n++) await post(user, '/api/v1/items', { name: `b${n}` })
    cursor = ok(await get(user, '/api/v1/items?sort=name&is_active=true&limit=1&cursor=')).next_cursor!
  })
  const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1)

  it('is accepted by the list it came from', async () => {
    expect(ok(await get(user, `/api/v1/items?sort=name&is_active=true&limit=1&cursor=${cursor}`)).items.map((r) => r.name)).toEqual(['b1'])
  })

  it.each([
    ['another sort', 'sort=-name&is_active=true'],
    ['another filter value', 'sort=name&is_active=false'],
    ['a filter left out', 'sort=name'],
    ['a filter added', 'sort=name&is_active=true&q=b'],
  ])('422 on query.cursor with %s', async (_label, query) => {
    const problem = expectProblem(await get(user, `/api/v1/items?${query}&cursor=${cursor}`), 422)
    expect(problem.errors).toEqual([{ field: 'query.cursor', message: expect.stringContaining('not a cursor of this list') }])
  })

  const forged = () => [
    flip(cursor, 0), flip(cursor, cursor.indexOf('.') + 1), flip(cursor, cursor.length - 1), cursor.replace('.', ''), `${cursor}.x`,
    `${Buffer.from('[null,1]').toString('base64url')}.${cursor.split('.')[1]}`, '.', 'x', '%', '😀.😀', 'a'.repeat(4000), '\u0000',
  ]
  it('422, never a 500, for altered and made-up cursors', async () => {
    for (const bad of forged()) {
      expectProblem(await get(user, `/api/v1/items?sort=name&is_active=true&cursor=${encodeURIComponent(bad)}`), 422)
    }
  })

  it('422 on query.skip when skip comes with a cursor', async () => {
    const problem = expectProblem(await get(user, '/api/v1/items?skip=5&cursor='), 422)
    expect(problem.errors).toEqual([{ field: 'query.skip', message: 'must be 0 when a cursor is sent' }])
  })
})
