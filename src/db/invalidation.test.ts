import { Writable } from 'node:stream'
import { sql } from 'drizzle-orm'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createTestDatabase, serverUrl } from '../../test/helpers/database.js'
import { createDatabase, type Database } from './client.js'
import { createInvalidationBus } from './invalidation.js'

const CHANNEL = 'keel_test_invalidation'
const until = async (ok: () => boolean) => {
  while (!ok()) await new Promise((r) => setImmediate(r))
}

describe.skipIf(serverUrl)('the invalidation bus on the embedded engine', () => {
  it('delivers messages and settles at once: one process, invalidated in-process', async () => {
    const { database, drop } = await createTestDatabase()
    const bus = createInvalidationBus(database)
    const seen: string[] = []
    const listener = await bus.subscribe(CHANNEL, (p) => seen.push(p), () => undefined)
    expect(listener.isListening()).toBe(true)
    await database.db.execute(sql`select pg_notify(${CHANNEL}, '7')`)
    await until(() => seen.length > 0)
    await bus.settle(CHANNEL)
    expect(seen).toEqual(['7'])
    await listener.close()
    await drop()
  })
})

describe.skipIf(!serverUrl)('the invalidation bus across two processes’ worth of connections on PostgreSQL', () => {
  let url: string
  let drop: () => Promise<void>
  const opened: Database[] = []
  const logs: string[] = []
  const logger = pino({ level: 'warn' }, new Writable({ write(chunk: Buffer, _e, done) { logs.push(chunk.toString()); done() } }))

  beforeAll(async () => {
    const test = await createTestDatabase()
    url = test.url!
    drop = test.drop
  })
  afterAll(async () => {
    for (const d of opened) await d.close()
    await drop()
  })
  const instance = async () => {
    const database = await createDatabase({ databaseUrl: url, poolSize: 2 })
    opened.push(database)
    const bus = createInvalidationBus(database, { logger, heartbeatMs: 200, settleTimeoutMs: 500 })
    const seen: string[] = []
    const listener = await bus.subscribe(CHANNEL, (p) => seen.push(p), () => undefined)
    await until(() => listener.isListening())
    return { database, bus, seen, listener }
  }

  it('settle resolves only after every live instance has handled what was committed before it', async () => {
    const a = await instance()
    const b = await instance()
    // A has heard B announce itself before it waits for B.
    for (let round = 0; round < 20; round++) {
      await a.database.db.execute(sql`select pg_notify(${CHANNEL}, ${String(round)})`)
      await a.bus.settle(CHANNEL)
      expect(b.seen).toContain(String(round))
    }
    await b.listener.close() // says goodbye: A stops waiting for it
    await a.database.db.execute(sql`select pg_notify(${CHANNEL}, 'after')`)
    await a.bus.settle(CHANNEL)
    expect(logs.join('')).not.toMatch(/not acknowledged/)
    await a.listener.close()
  })

  it('an instance that announced itself and stopped answering is waited for only up to the bound, then logged', async () => {
    const a = await instance()
    await a.database.db.execute(sql`select pg_notify(${CHANNEL}, 'keel-here:ghost')`)
    await a.bus.settle(CHANNEL)
    expect(logs.join('')).toMatch(/not acknowledged.*"missing":\["ghost"\]|"missing":\["ghost"\].*not acknowledged/)
    await a.listener.close()
  })
})
