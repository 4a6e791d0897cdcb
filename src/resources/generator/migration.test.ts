import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import * as schema from '../../db/schema.js'
import type { Database } from '../../db/client.js'
import { createMigrator } from '../../db/migrator.js'
import { createTestDatabase } from '../../../test/helpers/database.js'
import { diffSchema } from '../../../test/helpers/schema-diff.js'
import { fixtureMigrationsDir, fixtureResources } from '../../../test/fixtures/resources.js'
import { renderCreateMigration } from './migration.js'

let database: Database
let drop: () => Promise<void>
beforeAll(async () => { ({ database, drop } = await createTestDatabase()) })
afterAll(async () => drop())

describe('generated migrations', () => {
  it('create exactly the tables the declarations describe (drizzle-kit finds nothing to change)', async () => {
    const migrator = createMigrator(database, fixtureMigrationsDir())
    await migrator.migrate()
    const tables = { ...schema, ...Object.fromEntries(fixtureResources.map((r) => [r.name, r.table])) }
    expect((await diffSchema(database, tables)).statements).toEqual([])

    // Down to zero and up again: every undo undoes its do, in reverse order (children before their parents).
    await migrator.rollback(100)
    expect(await migrator.migrate()).toContain(9003)
  })

  it('undo drops the table', () => {
    expect(renderCreateMigration('tasks', []).undo).toBe('DROP TABLE tasks;\n')
  })
})
