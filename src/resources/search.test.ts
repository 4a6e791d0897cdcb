import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../test/helpers/app.js'
import { createUser, type TestUser } from '../../test/helpers/factories.js'
import { likeContains } from '../shared/listing.js'

let t: TestApp
let user: TestUser
const names = ['Apple pie', 'apple_tart', '100% apple', 'back\\slash', 'Banana', 'ab', 'XY', 'ÉCLAIR', 'pineapple']
beforeAll(async () => {
  t = await buildTestApp()
  user = await createUser(t.app)
  for (const name of names) {
    const res = await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: { name } })
    expect(res.statusCode).toBe(201)
  }
})
afterAll(async () => t.close())

const rows = <T>(result: unknown) => (result as { rows: T[] }).rows

/**
 * What the trigram index answers for `term`, with every other access path turned off (so the plan must be a bitmap
 * scan of items_owner_id_name_trgm_idx): the same rows the API's ILIKE gives, including for terms too short for a
 * trigram (the API keeps those off the index, see define.ts, but the index must not be wrong for them either).
 */
async function throughIndex(term: string): Promise<{ names: string[]; plan: string }> {
  return t.database.db.transaction(async (tx) => {
    for (const setting of ['enable_seqscan', 'enable_indexscan', 'enable_indexonlyscan']) await tx.execute(sql.raw(`set local ${setting} = off`))
    // Only this user's rows exist here: the owner condition is left out so no btree index can serve the query (a GIN
    // index can use any of its columns alone).
    const where = sql`name ilike ${likeContains(term)}`
    const plan = rows<Record<string, string>>(await tx.execute(sql`explain select name from items where ${where}`)).map((r) => Object.values(r)[0]).join('\n')
    const found = rows<{ name: string }>(await tx.execute(sql`select name from items where ${where} order by name collate "C"`)).map((r) => r.name)
    return { names: found, plan }
  })
}

const viaApi = async (term: string) => {
  const res = await t.app.inject({ url: `/api/v1/items?limit=100&q=${encodeURIComponent(term)}`, headers: user.headers })
  expect(res.statusCode).toBe(200)
  return (res.json().items as { name: string }[]).map((i) => i.name).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
}

describe('q through the owner\'s pg_trgm index', () => {
  it.each([
    ['a', ['100% apple', 'Apple pie', 'Banana', 'ab', 'apple_tart', 'back\\slash', 'pineapple', 'ÉCLAIR']],
    ['AP', ['100% apple', 'Apple pie', 'apple_tart', 'pineapple']],
    ['apple', ['100% apple', 'Apple pie', 'apple_tart', 'pineapple']],
    ['%', ['100% apple']],
    ['_', ['apple_tart']],
    ['\\', ['back\\slash']],
    ['y', ['XY']],
    ['clair', ['ÉCLAIR']],
    ['zzz', []],
  ])('%j: the index and the API give the same rows, short terms included', async (term, expected) => {
    const { names: found, plan } = await throughIndex(term)
    expect(plan).toContain('items_owner_id_name_trgm_idx')
    expect(found).toEqual(expected)
    expect(await viaApi(term)).toEqual(expected)
  })
})

describe('offset pages of q with their total', () => {
  const sorts = ['id', '-id', 'name', '-name', 'created_at', '-created_at']
  // 'apple' has a trigram (its matches are gathered once for the count and the page); 'a' and 'p%' have none.
  it.each(['apple', 'a', 'p%', 'zzz'])('%j: every page of every sort is the filtered list, in order, with its total', async (term) => {
    const owner = await createUser(t.app)
    for (const name of ['Apple', 'apple', 'pineapple', 'Apple', 'plum', 'applesauce', 'pear', 'apple%']) {
      expect((await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: owner.headers, payload: { name } })).statusCode).toBe(201)
    }
    const get = async (query: string) => {
      const res = await t.app.inject({ url: `/api/v1/items?${query}`, headers: owner.headers })
      expect(res.statusCode).toBe(200)
      return res.json() as { items: { id: number; name: string }[]; total: number; page: number }
    }
    for (const sort of sorts) {
      const all = (await get(`sort=${sort}&limit=100`)).items
      const expected = all.filter((i) => i.name.toLowerCase().includes(term)).map((i) => i.id)
      const seen: number[] = []
      for (let skip = 0; skip <= expected.length + 3; skip += 3) {
        const page = await get(`sort=${sort}&limit=3&skip=${skip}&q=${encodeURIComponent(term)}`)
        expect(page.total).toBe(expected.length)
        expect(page.page).toBe(skip / 3 + 1)
        seen.push(...page.items.map((i) => i.id))
      }
      expect(seen).toEqual(expected)
    }
  })
})
