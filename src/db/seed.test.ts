import { count, eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../test/helpers/app.js'
import { login } from '../../test/helpers/factories.js'
import { items } from './schema.js'
import { seedDatabase } from './seed.js'

let t: TestApp
beforeAll(async () => { t = await buildTestApp() })
afterAll(async () => t.close())

describe('seedDatabase', () => {
  it('spreads items evenly over users who can log in, and is safe to run twice', async () => {
    const progress: number[] = []
    const owners = await seedDatabase(t.database, { users: 4, items: 1_000, bcryptRounds: 4, onProgress: (done) => progress.push(done) })
    expect(owners).toHaveLength(4)
    expect(progress).toEqual([1_000])
    const [first] = await t.database.db.select({ n: count() }).from(items).where(eq(items.owner_id, owners[0]!))
    expect(first!.n).toBe(250)
    await seedDatabase(t.database, { users: 4, items: 8, bcryptRounds: 4 })
    const [total] = await t.database.db.select({ n: count() }).from(items)
    expect(total!.n).toBe(1_008)
    const { accessToken } = await login(t.app, 'seed-0001@example.com', 'seed-password')
    const page = (await t.app.inject({ url: '/api/v1/items?limit=5&q=item', headers: { authorization: `Bearer ${accessToken}` } })).json()
    expect(page).toMatchObject({ total: 252, size: 5 })
  })
})
