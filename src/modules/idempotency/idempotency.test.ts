import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
import { expectProblem } from '../../../test/helpers/http.js'
import { deleteExpiredKeys } from './idempotency.js'

let t: TestApp
beforeAll(async () => { t = await buildTestApp() })
afterAll(async () => t.close())

const post = (user: TestUser, key: string | undefined, payload: object, url = '/api/v1/items') =>
  t.app.inject({ method: 'POST', url, headers: { ...user.headers, ...(key === undefined ? {} : { 'idempotency-key': key }) }, payload })
const count = async (user: TestUser) => (await t.app.inject({ url: '/api/v1/items', headers: user.headers })).json().total as number

describe('Idempotency-Key on creates', () => {
  it('replays the first answer (status, Location, ETag, body) for a repeat, with Idempotent-Replayed', async () => {
    const user = await createUser(t.app)
    const first = await post(user, 'k-1', { name: 'Once' })
    expect(first.statusCode).toBe(201)
    expect(first.headers['idempotent-replayed']).toBeUndefined()
    const again = await post(user, 'k-1', { name: 'Once' })
    expect(again.statusCode).toBe(201)
    expect(again.headers['idempotent-replayed']).toBe('true')
    expect(again.json()).toEqual(first.json())
    expect([again.headers.location, again.headers.etag]).toEqual([first.headers.location, first.headers.etag])
    expect(await count(user)).toBe(1)
  })

  it('422 for the same key with another body; keys are per caller; no key creates every time', async () => {
    const user = await createUser(t.app)
    expect((await post(user, 'k-2', { name: 'A' })).statusCode).toBe(201)
    const problem = expectProblem(await post(user, 'k-2', { name: 'B' }), 422)
    expect(problem.errors).toEqual([{ field: 'headers.idempotency-key', message: 'was already used with another request' }])
    const other = await createUser(t.app)
    expect((await post(other, 'k-2', { name: 'B' })).headers['idempotent-replayed']).toBeUndefined()
    await post(user, undefined, { name: 'A' })
    await post(user, undefined, { name: 'A' })
    expect(await count(user)).toBe(3)
  })

  it('a failed create keeps nothing: the retry is processed', async () => {
    const user = await createUser(t.app)
    expectProblem(await post(user, 'k-3', { name: '' }), 422)
    expect((await post(user, 'k-3', { name: '' })).headers['idempotent-replayed']).toBeUndefined()
    expect((await post(user, 'k-3', { name: 'fixed' })).statusCode).toBe(201)
  })

  it('10 concurrent POSTs with one key create one row; the others replay it or are told it is in flight (409)', async () => {
    const user = await createUser(t.app)
    const answers = await Promise.all(Array.from({ length: 10 }, () => post(user, 'k-concurrent', { name: 'Race' })))
    expect(answers.every((r) => r.statusCode === 201 || r.statusCode === 409)).toBe(true)
    expect(answers.filter((r) => r.statusCode === 201 && !r.headers['idempotent-replayed'])).toHaveLength(1)
    expect(await count(user)).toBe(1)
  })

  it('422 for an empty or over-long key; any other key of 1-255 characters works', async () => {
    const user = await createUser(t.app)
    for (const key of ['', 'k'.repeat(256)]) expectProblem(await post(user, key, { name: 'x' }), 422)
    for (const key of ['k'.repeat(255), 'x', ' ', "'; drop table items; --", 'ÿ€"\\', '%00']) {
      expect((await post(user, key, { name: 'x' })).statusCode, key).toBe(201)
    }
  })

  it('expires after 24 h: the key then creates again, and the sweep deletes expired keys', async () => {
    const user = await createUser(t.app)
    await post(user, 'k-old', { name: 'Old' })
    await t.database.db.execute(sql`update idempotency_keys set expires_at = now() - interval '1 second' where user_id = ${user.id}`)
    expect((await post(user, 'k-old', { name: 'Old' })).headers['idempotent-replayed']).toBeUndefined()
    expect(await count(user)).toBe(2)
    await t.database.db.execute(sql`update idempotency_keys set expires_at = now() - interval '1 second' where user_id = ${user.id}`)
    expect(await deleteExpiredKeys(t.database.db)).toBeGreaterThanOrEqual(1)
    expect(await deleteExpiredKeys(t.database.db)).toBe(0)
  })

})
