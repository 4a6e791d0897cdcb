import { once, type EventEmitter } from 'node:events'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, serverUrl } from '../../test/helpers/database.js'
import { createDatabase, type Database } from './client.js'
import { discardBrokenClients } from './pool-guard.js'

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

describe.runIf(serverUrl)('a checked-out connection whose server goes away', () => {
  it('does not crash the process, and is not handed out again', async () => {
    const test = await createTestDatabase()
    const { default: pg } = await import('pg')
    const pool = new pg.Pool({ connectionString: test.url, max: 1 })
    discardBrokenClients(pool)
    const admin = new pg.Pool({ connectionString: test.url, max: 1 })
    try {
      const client = await pool.connect()
      const { rows } = await client.query<{ pid: number }>('select pg_backend_pid() as pid')
      const closed = once((client as unknown as { connection: { stream: EventEmitter } }).connection.stream, 'close')
      // Between two statements of a transaction, as in a failover: no query is active to receive the error.
      await admin.query('select pg_terminate_backend($1)', [rows[0]!.pid])
      await closed
      client.release()
      const next = await pool.query<{ pid: number }>('select pg_backend_pid() as pid')
      expect(next.rows[0]!.pid).not.toBe(rows[0]!.pid)
    } finally {
      await Promise.all([pool.end(), admin.end()])
      await test.drop()
    }
  })
})
