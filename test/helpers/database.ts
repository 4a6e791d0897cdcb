import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import { inject } from 'vitest'
import { createDatabase, pgliteExtensions, type Database } from '../../src/db/client.js'

export const serverUrl = process.env.TEST_DATABASE_URL

/**
 * A fresh, empty database: a copy of the PGlite template, or a new database on the TEST_DATABASE_URL server
 * (created through that URL, dropped by `drop()`), so every test file starts from nothing.
 */
export async function createTestDatabase(): Promise<{ database: Database; url: string | undefined; drop(): Promise<void> }> {
  if (!serverUrl) {
    const template = new Blob([readFileSync(inject('pgliteTemplate'))])
    const database = await createDatabase({ pglite: await PGlite.create({ loadDataDir: template, extensions: await pgliteExtensions() }) })
    return { database, url: undefined, drop: async () => database.close() }
  }
  const admin = async (statement: string) => {
    const client = new pg.Client({ connectionString: serverUrl })
    await client.connect()
    try {
      await client.query(statement)
    } finally {
      await client.end()
    }
  }
  const name = `keel_test_${randomBytes(6).toString('hex')}`
  await admin(`CREATE DATABASE ${name}`)
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  const database = await createDatabase({ databaseUrl: url.toString(), poolSize: 5 })
  return {
    database,
    url: url.toString(),
    async drop() {
      await database.close()
      await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    },
  }
}
