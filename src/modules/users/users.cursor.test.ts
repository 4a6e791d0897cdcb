import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
import { expectProblem } from '../../../test/helpers/http.js'

let t: TestApp
let admin: TestUser
beforeAll(async () => {
  t = await buildTestApp()
  admin = await createUser(t.app, { superuser: true, database: t.database })
})
afterAll(async () => t.close())

interface UsersPage { items: { id: number; email: string }[]; total: number | null; page: number | null; size: number; next_cursor: string | null }
const get = (url: string) => t.app.inject({ url, headers: admin.headers })
const ok = (res: Awaited<ReturnType<typeof get>>) => {
  expect(res.statusCode, res.body).toBe(200)
  return res.json<UsersPage>()
}

describe('GET /api/v1/users with cursor', () => {
  it('keyset pages by id: total and page null, next_cursor and Link to the next page, none on the last', async () => {
    await createUser(t.app)
    const res = await get('/api/v1/users?limit=1&cursor=')
    const first = ok(res)
    expect(first).toMatchObject({ total: null, page: null, size: 1 })
    expect(first.items).toHaveLength(1)
    const link = /^<([^>]+)>; rel="next"$/.exec(res.headers.link as string)![1]!
    expect(link).toBe(`/api/v1/users?limit=1&cursor=${first.next_cursor}`)
    const second = ok(await get(link))
    expect(second.items[0]!.id).toBeGreaterThan(first.items[0]!.id)
    const offset = ok(await get('/api/v1/users?limit=100'))
    expect(offset.total).toBe(offset.items.length)
    expect(offset.next_cursor).toBeNull()
    const last = await get(`/api/v1/users?limit=100&cursor=${first.next_cursor}`)
    expect(ok(last).next_cursor).toBeNull()
    expect(last.headers.link).toBeUndefined()
  })

  it('walking every page while accounts are added and removed sees every account that existed throughout exactly once', async () => {
    const throughout = await Promise.all(Array.from({ length: 7 }, () => createUser(t.app)))
    const doomed = await Promise.all(Array.from({ length: 4 }, () => createUser(t.app)))
    const seen: number[] = []
    let url: string | undefined = '/api/v1/users?limit=3&cursor='
    for (let n = 0; url; n++) {
      const page = ok(await get(url))
      seen.push(...page.items.map((u) => u.id))
      // Meanwhile: one account created, one deleted.
      await createUser(t.app)
      const gone = doomed[n]
      if (gone) expect((await t.app.inject({ method: 'DELETE', url: `/api/v1/users/${gone.id}`, headers: admin.headers })).statusCode).toBe(204)
      url = page.next_cursor ? `/api/v1/users?limit=3&cursor=${page.next_cursor}` : undefined
    }
    expect(new Set(seen).size).toBe(seen.length)
    for (const user of [admin, ...throughout]) expect(seen.filter((id) => id === user.id)).toHaveLength(1)
  })

  it('422 for a cursor of another list, an altered one, or skip with a cursor; never a 500', async () => {
    const owner = await createUser(t.app)
    await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: owner.headers, payload: { name: 'a' } })
    await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: owner.headers, payload: { name: 'b' } })
    const itemsCursor = (await t.app.inject({ url: '/api/v1/items?limit=1&cursor=', headers: owner.headers })).json<UsersPage>().next_cursor!
    const usersCursor = ok(await get('/api/v1/users?limit=1&cursor=')).next_cursor!
    for (const bad of [itemsCursor, `${usersCursor}x`, usersCursor.replace('.', ''), '.', '%00', 'a'.repeat(2000)]) {
      const problem = expectProblem(await get(`/api/v1/users?limit=1&cursor=${encodeURIComponent(bad)}`), 422)
      expect(problem.errors).toEqual([{ field: 'query.cursor', message: expect.stringContaining('not a cursor of this list') }])
    }
    expectProblem(await get(`/api/v1/users?skip=1&cursor=${usersCursor}`), 422)
  })

  it('403 for a user who is not a superuser', async () => {
    const user = await createUser(t.app)
    expectProblem(await t.app.inject({ url: '/api/v1/users?cursor=', headers: user.headers }), 403)
  })
})
