import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as schema from '../src/db/schema.js'
import { createMigrator } from '../src/db/migrator.js'
import type { Database } from '../src/db/client.js'
import { createTestDatabase } from './helpers/database.js'
import { diffSchema } from './helpers/schema-diff.js'

let database: Database
let drop: () => Promise<void>
beforeAll(async () => { ({ database, drop } = await createTestDatabase()) })
afterAll(async () => drop())

const tables = async () => {
  const result = await database.db.execute(sql`
    select table_name from information_schema.tables where table_schema = current_schema() and table_name <> 'schemaversion' order by 1`)
  return (result as unknown as { rows: { table_name: string }[] }).rows.map((r) => r.table_name)
}

describe('migrations', () => {
  it('go up, all the way down to zero, and up again', async () => {
    const migrator = createMigrator(database)
    expect(await migrator.migrate()).toEqual([1, 2, 3])
    expect(await tables()).toEqual(['items', 'refresh_tokens', 'users'])
    expect(await migrator.status()).toEqual([
      { version: 1, name: 'init', applied: true },
      { version: 2, name: 'user-change-notify', applied: true },
      { version: 3, name: 'refresh-token-family-index', applied: true },
    ])
    expect(await migrator.migrate()).toEqual([])

    expect(await migrator.rollback()).toEqual([3])
    expect((await migrator.status()).map((m) => m.applied)).toEqual([true, true, false])
    expect(await migrator.rollback(5)).toEqual([2, 1])
    expect(await tables()).toEqual([])
    expect((await migrator.status()).map((m) => m.applied)).toEqual([false, false, false])
    expect(await migrator.rollback()).toEqual([])

    expect(await migrator.migrate()).toEqual([1, 2, 3])
    expect(await tables()).toEqual(['items', 'refresh_tokens', 'users'])
  })

  it('leave exactly the schema the code\'s table definitions expect', async () => {
    await createMigrator(database).migrate()
    // drizzle-kit diffs the live database against the Drizzle tables: nothing to change means they agree.
    const { statements, hasDataLoss } = await diffSchema(database, schema)
    expect(statements).toEqual([])
    expect(hasDataLoss).toBe(false)
  })
})
