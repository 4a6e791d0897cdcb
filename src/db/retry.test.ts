import { drizzle } from 'drizzle-orm/node-postgres'
import { sql } from 'drizzle-orm'
import type pg from 'pg'
import { describe, expect, it } from 'vitest'
import { createOutageLog } from './outage.js'
import { retryOnFailover } from './retry.js'
import { onFreshConnection, RoutingPool } from './router.js'

const cut = () => Object.assign(new Error('Failed query: insert …'), { cause: Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }) })

/** A router whose pool and fresh connections only say which they are: no server needed. */
function routerOverStubs() {
  const used: string[] = []
  const client = (kind: string) => ({
    query: async () => { used.push(kind); return { rows: [], fields: [], command: 'SELECT', rowCount: 0 } },
    release: () => undefined,
  })
  class Client {
    on() { return this }
    async connect() {}
    async end() {}
    query = client('fresh').query
  }
  const pool = { connect: async () => client('pool') } as unknown as pg.Pool
  const router = new RoutingPool({
    pg: { Client } as unknown as typeof pg,
    primary: { pool, config: {}, log: createOutageLog('primary', undefined) },
    unnamed: false,
  })
  return { router, used }
}

describe('retryOnFailover', () => {
  it('repeats a write that failed for a failover\'s reason once, its transaction on a fresh connection', async () => {
    const { router, used } = routerOverStubs()
    const db = drizzle(router as unknown as pg.Pool)
    let runs = 0
    const result = await retryOnFailover(() => db.transaction(async (tx) => {
      await tx.execute(sql`insert into t values (1)`)
      if (++runs === 1) throw cut()
      return 'created'
    }))
    expect(result).toBe('created')
    // begin, insert, rollback on the pool's connection; begin, insert, commit on one opened for the repeat.
    expect(used).toEqual(['pool', 'pool', 'pool', 'fresh', 'fresh', 'fresh'])
  })

  it('gives up after the second failure, and never repeats a write that failed otherwise or timed out', async () => {
    let runs = 0
    await expect(retryOnFailover(async () => { runs++; throw cut() })).rejects.toThrow('Failed query')
    expect(runs).toBe(2)
    for (const err of [Object.assign(new Error('duplicate'), { code: '23505' }), new Error('Query read timeout')]) {
      runs = 0
      await expect(retryOnFailover(async () => { runs++; throw err })).rejects.toBe(err)
      expect(runs).toBe(1)
    }
  })

  it('a fresh connection is taken by the first connect of the start only; later ones use the pool', async () => {
    const { router, used } = routerOverStubs()
    const db = drizzle(router as unknown as pg.Pool)
    await onFreshConnection(async () => {
      await db.transaction(async (tx) => { await tx.execute(sql`select 1`) })
      await db.transaction(async (tx) => { await tx.execute(sql`select 1`) })
    })
    expect(used).toEqual(['fresh', 'fresh', 'fresh', 'pool', 'pool', 'pool'])
  })
})
