import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
import { expectProblem, isoTimestamp } from '../../../test/helpers/http.js'
import { items } from './items.resource.js'

let t: TestApp
beforeAll(async () => { t = await buildTestApp() })
afterAll(async () => t.close())

const create = async (user: TestUser, payload: Record<string, unknown>) => {
  const res = await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload })
  expect(res.statusCode, res.body).toBe(201)
  return res.json<{ id: number; name: string; created_at: string }>()
}
const list = (user: TestUser, query = '') => t.app.inject({ url: `/api/v1/items${query}`, headers: user.headers })

describe('POST /api/v1/items', () => {
  it('201 with the item and its Location', async () => {
    const user = await createUser(t.app)
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: 'Notebook', description: 'A5' } })
    expect(res.statusCode).toBe(201)
    const item = res.json()
    expect(item).toEqual({
      id: expect.any(Number), name: 'Notebook', description: 'A5', is_active: true, owner_id: user.id,
      created_at: isoTimestamp, updated_at: null,
    })
    expect(res.headers.location).toBe(`/api/v1/items/${item.id}`)
    expect((await t.app.inject({ url: res.headers.location as string, headers: user.headers })).json()).toEqual(item)
  })

  it('201 with description: null, read back as null', async () => {
    const user = await createUser(t.app)
    const item = await create(user, { name: 'Bare', description: null })
    expect(item).toMatchObject({ name: 'Bare', description: null })
    expect((await t.app.inject({ url: `/api/v1/items/${item.id}`, headers: user.headers })).json()).toEqual(item)
  })

  it('stores SQL, quotes and unicode byte for byte', async () => {
    const user = await createUser(t.app)
    const name = `'; DROP TABLE items; -- "ä" 😀 \\ % _ ${'\u{10FFFF}'}`
    const item = await create(user, { name, description: '<script>alert(1)</script>' })
    const read = await t.app.inject({ url: `/api/v1/items/${item.id}`, headers: user.headers })
    expect(read.json()).toMatchObject({ name, description: '<script>alert(1)</script>' })
  })

  it('counts names in code points: 255 emoji fit, 256 do not', async () => {
    const user = await createUser(t.app)
    await create(user, { name: '😀'.repeat(255) })
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: '😀'.repeat(256) } }), 422)
  })

  it.each([
    [{}, 'body.name'],
    [{ name: '' }, 'body.name'],
    [{ name: 'x'.repeat(256) }, 'body.name'],
    [{ name: 'x', description: 'd'.repeat(1001) }, 'body.description'],
    [{ name: 'x', is_active: 'yes' }, 'body.is_active'],
    [{ name: 12 }, 'body.name'],
    [{ name: 'x', owner_id: 1 }, 'body.owner_id'],
    [{ name: 'x', id: 1 }, 'body.id'],
  ])('422 for %j', async (payload, field) => {
    const user = await createUser(t.app)
    const body = expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload }), 422)
    expect(body.errors?.map((e) => e.field)).toContain(field)
    expect((await list(user)).json().total).toBe(0)
  })

  it('422 for a NUL character, which PostgreSQL cannot store', async () => {
    const user = await createUser(t.app)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: 'a\u0000b' } }), 422)
  })

  it('50 parallel creates by one user all succeed', async () => {
    const user = await createUser(t.app)
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name: `item ${i}` } })))
    expect(results.every((r) => r.statusCode === 201)).toBe(true)
    expect(new Set(results.map((r) => r.json().id)).size).toBe(50)
    expect((await list(user)).json().total).toBe(50)
  })
})

describe('GET /api/v1/items/:id', () => {
  it('404 for another user\'s item and for a missing one; 422 for a non-integer or out-of-range id', async () => {
    const [owner, other] = [await createUser(t.app), await createUser(t.app)]
    const item = await create(owner, { name: 'mine' })
    expectProblem(await t.app.inject({ url: `/api/v1/items/${item.id}`, headers: other.headers }), 404)
    expectProblem(await t.app.inject({ url: '/api/v1/items/999999', headers: owner.headers }), 404)
    for (const id of ['abc', '1.5', '0', '-1', '2147483648', '1e3']) {
      expectProblem(await t.app.inject({ url: `/api/v1/items/${id}`, headers: owner.headers }), 422)
    }
  })
})

describe('PUT and PATCH /api/v1/items/:id', () => {
  it.each(['PUT', 'PATCH'] as const)('%s changes only the fields sent and sets updated_at', async (method) => {
    const user = await createUser(t.app)
    const item = await create(user, { name: 'before', description: 'keep me' })
    const res = await t.app.inject({ method, url: `/api/v1/items/${item.id}`, headers: user.headers, payload: { is_active: false } })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toMatchObject({ name: 'before', description: 'keep me', is_active: false, updated_at: isoTimestamp })
    const cleared = await t.app.inject({ method, url: `/api/v1/items/${item.id}`, headers: user.headers, payload: { description: null } })
    expect(cleared.json().description).toBeNull()
    expect((await t.app.inject({ url: `/api/v1/items/${item.id}`, headers: user.headers })).json()).toEqual(cleared.json())
  })

  it.each(['PUT', 'PATCH'] as const)('%s with an empty body changes nothing', async (method) => {
    const user = await createUser(t.app)
    const item = await create(user, { name: 'same' })
    const res = await t.app.inject({ method, url: `/api/v1/items/${item.id}`, headers: user.headers, payload: {} })
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual(item)
    expect((await t.app.inject({ url: `/api/v1/items/${item.id}`, headers: user.headers })).json()).toEqual(item)
  })

  it.each([
    [{ id: 999 }, 'body.id'],
    [{ owner_id: 1 }, 'body.owner_id'],
    [{ name: 'ok', owner_id: 1 }, 'body.owner_id'],
  ])('PUT 422 for %j, and the item stays unchanged', async (payload, field) => {
    const user = await createUser(t.app)
    const item = await create(user, { name: 'fixed' })
    const body = expectProblem(await t.app.inject({ method: 'PUT', url: `/api/v1/items/${item.id}`, headers: user.headers, payload }), 422)
    expect(body.errors?.map((e) => e.field)).toEqual([field])
    expect((await t.app.inject({ url: `/api/v1/items/${item.id}`, headers: user.headers })).json()).toEqual(item)
  })

  it.each(['abc', '0', '-1', '2147483648'])('PATCH 422 for the id %s', async (id) => {
    const user = await createUser(t.app)
    const body = expectProblem(await t.app.inject({ method: 'PATCH', url: `/api/v1/items/${id}`, headers: user.headers, payload: { name: 'x' } }), 422)
    expect(body.errors?.map((e) => e.field)).toEqual(['path.id'])
  })

  it('404 for another user\'s item, which stays unchanged; 422 for owner_id or bad values', async () => {
    const [owner, other] = [await createUser(t.app), await createUser(t.app)]
    const item = await create(owner, { name: 'mine' })
    for (const method of ['PUT', 'PATCH'] as const) {
      expectProblem(await t.app.inject({ method, url: `/api/v1/items/${item.id}`, headers: other.headers, payload: { name: 'stolen' } }), 404)
    }
    expectProblem(await t.app.inject({ method: 'PATCH', url: `/api/v1/items/${item.id}`, headers: owner.headers, payload: { owner_id: other.id } }), 422)
    expectProblem(await t.app.inject({ method: 'PATCH', url: `/api/v1/items/${item.id}`, headers: owner.headers, payload: { name: '' } }), 422)
    expect((await t.app.inject({ url: `/api/v1/items/${item.id}`, headers: owner.headers })).json()).toEqual(item)
  })
})

describe('DELETE /api/v1/items/:id', () => {
  it('204, then 404; another user gets 404 and the item survives', async () => {
    const [owner, other] = [await createUser(t.app), await createUser(t.app)]
    const item = await create(owner, { name: 'mine' })
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/items/${item.id}`, headers: other.headers }), 404)
    expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/items/${item.id}`, headers: owner.headers })).statusCode).toBe(204)
    expectProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/items/${item.id}`, headers: owner.headers }), 404)
  })

  it.each(['abc', '0', '-1', '2147483648'])('422 for the id %s', async (id) => {
    const user = await createUser(t.app)
    const body = expectProblem(await t.app.inject({ method: 'DELETE', url: `/api/v1/items/${id}`, headers: user.headers }), 422)
    expect(body.errors?.map((e) => e.field)).toEqual(['path.id'])
  })
})

describe('GET /api/v1/items', () => {
  it('lists only the caller\'s items, paged', async () => {
    const [owner, other] = [await createUser(t.app), await createUser(t.app)]
    for (let i = 0; i < 5; i++) await create(owner, { name: `n${i}` })
    await create(other, { name: 'not yours' })
    const res = await list(owner, '?skip=2&limit=2')
    expect(res.statusCode).toBe(200)
    const page = res.json()
    expect(page).toMatchObject({ total: 5, page: 2, size: 2 })
    expect(page.items.map((i: { name: string }) => i.name)).toEqual(['n2', 'n3'])
    expect((await list(owner, '?skip=10&limit=3')).json()).toEqual({ items: [], total: 5, page: 4, size: 3, next_cursor: null })
    expect((await list(other)).json().total).toBe(1)
  })

  it('filters by is_active and by q, matching %, _ and \\ literally', async () => {
    const user = await createUser(t.app)
    for (const [name, is_active] of [['Apple pie', true], ['apple_tart', false], ['100% apple', true], ['banana', true], ['back\\slash', true]] as const) {
      await create(user, { name, is_active })
    }
    const names = async (query: string) => (await list(user, query)).json().items.map((i: { name: string }) => i.name)
    expect(await names('?q=APPLE')).toEqual(['Apple pie', 'apple_tart', '100% apple'])
    expect(await names('?q=APPLE&is_active=true')).toEqual(['Apple pie', '100% apple'])
    expect(await names('?is_active=false')).toEqual(['apple_tart'])
    expect(await names(`?q=${encodeURIComponent('%')}`)).toEqual(['100% apple'])
    expect(await names('?q=_')).toEqual(['apple_tart'])
    expect(await names(`?q=${encodeURIComponent('\\')}`)).toEqual(['back\\slash'])
  })

  it('sorts by every allowed key, ties broken by id, so pages never repeat or skip', async () => {
    const user = await createUser(t.app)
    const created = []
    for (const name of ['b', 'a', 'b', 'c', 'a']) created.push(await create(user, { name }))
    const ids = (res: Awaited<ReturnType<typeof list>>) => res.json().items.map((i: { id: number }) => i.id)
    const [b1, a1, b2, c1, a2] = created.map((c) => c.id)
    expect(ids(await list(user, '?sort=name'))).toEqual([a1, a2, b1, b2, c1])
    expect(ids(await list(user, '?sort=-name'))).toEqual([c1, b2, b1, a2, a1])
    expect(ids(await list(user, '?sort=-id'))).toEqual([a2, c1, b2, a1, b1])
    expect(ids(await list(user, '?sort=created_at'))).toEqual([b1, a1, b2, c1, a2])
    expect(ids(await list(user, '?sort=-created_at'))).toEqual([a2, c1, b2, a1, b1])
    const paged = []
    for (let skip = 0; skip < 5; skip += 2) paged.push(...ids(await list(user, `?sort=name&skip=${skip}&limit=2`)))
    expect(paged).toEqual([a1, a2, b1, b2, c1])
  })

  it.each(['?skip=-1', '?limit=0', '?limit=101', '?sort=owner_id', '?sort=name;drop', '?is_active=maybe', '?skip=abc', '?limit=1&limit=2', '?extra=1'])(
    '422 for %s', async (query) => {
      const user = await createUser(t.app)
      expectProblem(await list(user, query), 422)
    })
})

describe('items repository', () => {
  it('an insert for an owner deleted after authentication is a 401, not a 500', async () => {
    const user = await createUser(t.app)
    expect((await t.app.inject({ method: 'DELETE', url: '/api/v1/users/me', headers: user.headers })).statusCode).toBe(204)
    await expect(items.repository(t.app.database.db).insert({ tenantId: user.id, userId: user.id }, { name: 'orphan' })).rejects.toMatchObject({ status: 401 })
  })
})
