import { readdirSync } from 'node:fs'
import { getTableName, sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as schema from '../src/db/schema.js'
import { createMigrator } from '../src/db/migrator.js'
import { migrationsDir } from '../src/shared/paths.js'
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

// Generated resources add migrations and tables: the expectations follow the migrations directory and schema.ts.
const versions = [...new Set(readdirSync(migrationsDir).map((file) => Number(file.split('.')[0])))].sort((a, b) => a - b)
const tableNames = Object.values(schema).map((table) => getTableName(table)).sort()

describe('migrations', () => {
  it('go up, all the way down to zero, and up again', async () => {
    const migrator = createMigrator(database)
    expect(versions.slice(0, 4)).toEqual([1, 2, 3, 4])
    expect(await migrator.migrate()).toEqual(versions)
    expect(await tables()).toEqual(tableNames)
    expect((await migrator.status()).slice(0, 4)).toEqual([
      { version: 1, name: 'init', applied: true },
      { version: 2, name: 'user-change-notify', applied: true },
      { version: 3, name: 'refresh-token-family-index', applied: true },
      { version: 4, name: 'account-email', applied: true },
    ])
    expect(await migrator.migrate()).toEqual([])

    expect(await migrator.rollback()).toEqual([versions.at(-1)])
    expect((await migrator.status()).map((m) => m.applied)).toEqual(versions.map((_, i) => i < versions.length - 1))
    expect(await migrator.rollback(versions.length + 2)).toEqual(versions.slice(0, -1).reverse())
    expect(await tables()).toEqual([])
    expect((await migrator.status()).map((m) => m.applied)).toEqual(versions.map(() => false))
    expect(await migrator.rollback()).toEqual([])

    expect(await migrator.migrate()).toEqual(versions)
    expect(await tables()).toEqual(tableNames)
  })

  it('leave exactly the schema the code\'s table definitions expect', async () => {
    await createMigrator(database).migrate()
    // drizzle-kit diffs the live database against the Drizzle tables: nothing to change means they agree.
    const { statements, hasDataLoss } = await diffSchema(database, schema)
    expect(statements).toEqual([])
    expect(hasDataLoss).toBe(false)
  })
})
