import { join } from 'node:path'
import Postgrator from 'postgrator'
import { migrationsDir } from '../shared/paths.js'
import type { Database } from './client.js'

export interface MigrationStatus {
  version: number
  name: string
  applied: boolean
}

/**
 * Reversible SQL migrations (`migrations/NNNN.do.name.sql` + `NNNN.undo.name.sql`) run by Postgrator.
 * Each call runs in one transaction under an advisory lock: a failed migration leaves nothing half-applied,
 * and several instances starting at once apply each migration exactly once.
 */
export function createMigrator(database: Database, directory: string = migrationsDir) {
  const withPostgrator = <T>(fn: (p: Postgrator) => Promise<T>) =>
    database.withMigrationLock(async (exec) => {
      // Postgrator looks for its table in `currentSchema`: follow the connection's search_path (tests use one schema per run).
      const [row] = (await exec('select current_schema() as schema')).rows
      return fn(new Postgrator({
        migrationPattern: join(directory, '*.sql'),
        driver: 'pg',
        database: '',
        schemaTable: 'schemaversion',
        currentSchema: String(row?.schema ?? 'public'),
        newline: 'LF',
        execQuery: exec,
      }))
    })

  return {
    /** Applies every pending migration; returns the versions applied. */
    migrate: () => withPostgrator(async (p) => (await p.migrate('max')).map((m) => m.version)),

    /** Undoes the last `steps` applied migrations; returns the versions undone. */
    rollback: (steps = 1) => withPostgrator(async (p) => {
      const current = await p.getDatabaseVersion()
      const versions = [...new Set((await p.getMigrations()).map((m) => m.version))].sort((a, b) => a - b)
      const applied = versions.filter((v) => v <= current)
      const target = applied.length > steps ? applied[applied.length - steps - 1]! : 0
      return (await p.migrate(String(target))).map((m) => m.version)
    }),

    status: () => withPostgrator(async (p): Promise<MigrationStatus[]> => {
      const current = await p.getDatabaseVersion()
      return (await p.getMigrations())
        .filter((m) => m.action === 'do')
        .sort((a, b) => a.version - b.version)
        .map((m) => ({ version: m.version, name: m.name, applied: m.version <= current }))
    }),
  }
}

export type Migrator = ReturnType<typeof createMigrator>
