import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, serverUrl } from '../../test/helpers/database.js'
import { createDatabase, type Database } from './client.js'

// Only a server has a client-side query timeout (the embedded engine runs in the process).
describe.runIf(serverUrl)('a statement that times out inside a transaction', () => {
  let test: Awaited<ReturnType<typeof createTestDatabase>>
  let database: Database
  beforeAll(async () => {
    test = await createTestDatabase()
    // One connection, so the next query gets the very connection the timed-out transaction ran on, if it was kept.
    database = await createDatabase({ databaseUrl: test.url, poolSize: 1, queryTimeoutMs: 300 })
  })
  afterAll(async () => {
    await database.close()
    await test.drop()
  })

  it('does not poison the pooled connection: the next query runs outside any transaction', async () => {
    await expect(database.db.transaction(async (tx) => tx.execute(sql`select pg_sleep(1)`))).rejects.toThrow()
    const result = await database.db.execute(sql`select now() = statement_timestamp() as fresh`)
    // now() is the transaction's start: equal to this statement's start only in a transaction of its own.
    expect((result as unknown as { rows: { fresh: boolean }[] }).rows).toEqual([{ fresh: true }])
  })
})
