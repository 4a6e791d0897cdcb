import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { inject } from 'vitest'
import { createDatabase, type Database } from '../../src/db/client.js'

export const serverUrl = process.env.TEST_DATABASE_URL

/** A URL whose connections use `schema` first: each test file gets its own schema on the shared server. */
function withSearchPath(url: string, schema: string): string {
  const u = new URL(url)
  u.searchParams.set('options', `-c search_path=${schema}`)
  return u.toString()
}

/**
 * A fresh, empty database: a copy of the PGlite template, or a new schema on TEST_DATABASE_URL.
 * `drop()` removes the schema (PGlite copies vanish with the process).
 */
export async function createTestDatabase(): Promise<{ database: Database; url: string | undefined; drop(): Promise<void> }> {
  if (!serverUrl) {
    const template = new Blob([readFileSync(inject('pgliteTemplate'))])
    const database = await createDatabase({ pglite: await PGlite.create({ loadDataDir: template }) })
    return { database, url: undefined, drop: async () => database.close() }
  }
  const schema = `test_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: serverUrl })
  await admin.connect()
  await admin.query(`CREATE SCHEMA ${schema}`)
  await admin.end()
  const url = withSearchPath(serverUrl, schema)
  const database = await createDatabase({ databaseUrl: url, poolSize: 5 })
  return {
    database,
    url,
    async drop() {
      await database.close()
      const client = new pg.Client({ connectionString: serverUrl })
      await client.connect()
      await client.query(`DROP SCHEMA ${schema} CASCADE`)
      await client.end()
    },
  }
}
