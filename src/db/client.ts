import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { PGlite } from '@electric-sql/pglite'
import { sql } from 'drizzle-orm'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import type pg from 'pg'
import type { Logger } from 'pino'
import { acquireDataDirLock } from './data-dir-lock.js'
import { discardTimedOutClients } from './pool-guard.js'

/** The Drizzle handle every repository uses; the same type on PGlite and on node-postgres. */
export type Db = PgDatabase<PgQueryResultHKT>

/** Runs raw SQL (possibly several statements) on one connection; what the migrator needs. */
export type ExecSql = (text: string) => Promise<{ rows: Record<string, unknown>[] }>

export interface Database {
  readonly db: Db
  readonly engine: 'pglite' | 'postgres'
  /** Runs `fn` on one connection inside a transaction holding the migration lock, so concurrent starters serialise. */
  withMigrationLock<T>(fn: (exec: ExecSql) => Promise<T>): Promise<T>
  /**
   * LISTENs on `channel` on a dedicated connection. `onReset` runs whenever notifications may have been
   * missed (the connection dropped); `isListening()` says whether they are being received now.
   */
  listen(channel: string, onMessage: (payload: string) => void, onReset: () => void): Promise<Listener>
  /** Resolves when the database answers a trivial query. */
  ping(): Promise<void>
  /** Connection-pool figures for /metrics; absent on the embedded engine (one connection, no pool). */
  poolStats?(): { total: number; idle: number; waiting: number }
  /** Closes the pool or the engine; later calls resolve with the first one. */
  close(): Promise<void>
}

export interface Listener {
  isListening(): boolean
  close(): Promise<void>
}

export interface DatabaseOptions {
  databaseUrl?: string | undefined
  dataDir?: string | undefined
  /** An already-open PGlite (tests load a template into memory); ownership passes to the Database. */
  pglite?: PGlite | undefined
  /** Upper bound for one query on a server: past it the request answers 503 instead of hanging. */
  queryTimeoutMs?: number
  poolSize?: number
  logger?: Logger | undefined
}

// Arbitrary constant shared by every Keel instance: the key of the advisory lock around migrations.
const MIGRATION_LOCK_KEY = 7_220_451_001

// Each engine's driver is loaded only when used: start-up on PostgreSQL never pays for the WebAssembly engine.
export async function createDatabase(options: DatabaseOptions): Promise<Database> {
  if (options.databaseUrl) return createPostgresDatabase(options.databaseUrl, options)
  return createPgliteDatabase(options)
}

async function createPostgresDatabase(url: string, options: DatabaseOptions): Promise<Database> {
  const { default: pg } = await import('pg')
  const { drizzle: drizzlePg } = await import('drizzle-orm/node-postgres')
  const queryTimeout = options.queryTimeoutMs ?? 1_500
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    // Both bounds keep a request that needs an unreachable or hanging database under the SPEC's 2 s before it
    // answers 503. Waiting for a pooled connection (same bound) gives up before stalled queries free theirs.
    connectionTimeoutMillis: 1_200,
    query_timeout: queryTimeout,
    idleTimeoutMillis: 30_000,
    keepAlive: true,
  })
  // An idle client losing its server emits here; unhandled it would crash the process.
  pool.on('error', (err) => options.logger?.warn({ err }, 'idle database connection failed'))
  discardTimedOutClients(pool)
  const db = drizzlePg({ client: pool })
  return {
    db,
    engine: 'postgres',
    async withMigrationLock(fn) {
      const client = await pool.connect()
      try {
        await client.query({ text: 'BEGIN', query_timeout: 0 } as pg.QueryConfig)
        await client.query({ text: `SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`, query_timeout: 0 } as pg.QueryConfig)
        const exec: ExecSql = async (text) => {
          const result = await client.query({ text, query_timeout: 0 } as pg.QueryConfig)
          const last = Array.isArray(result) ? result.at(-1) : result
          return { rows: last?.rows ?? [] }
        }
        const value = await fn(exec)
        await client.query('COMMIT')
        return value
      } catch (err) {
        await client.query('ROLLBACK').catch(() => undefined)
        throw err
      } finally {
        client.release()
      }
    },
    listen: (channel, onMessage, onReset) => listenOnServer(pg, url, channel, onMessage, onReset, options.logger),
    async ping() {
      await db.execute(sql`select 1`)
    },
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: once(() => pool.end()),
  }
}

async function createPgliteDatabase(options: DatabaseOptions): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite')
  const { drizzle: drizzlePglite } = await import('drizzle-orm/pglite')
  let client = options.pglite
  let releaseLock: (() => void) | undefined
  if (!client) {
    const dataDir = options.dataDir ?? './data'
    mkdirSync(dataDir, { recursive: true })
    // PGlite does not lock its directory; two processes on one directory can lose committed writes.
    releaseLock = acquireDataDirLock(dataDir)
    try {
      client = await PGlite.create(join(dataDir, 'pgdata'))
    } catch (err) {
      releaseLock()
      throw err
    }
  }
  const pglite = client
  const db = drizzlePglite({ client: pglite })
  return {
    db,
    engine: 'pglite',
    async withMigrationLock(fn) {
      // PGlite is a single connection: the transaction alone serialises migrations.
      return pglite.transaction(async (tx) => fn(async (text) => {
        const results = await tx.exec(text)
        return { rows: (results.at(-1)?.rows ?? []) as Record<string, unknown>[] }
      }))
    },
    async listen(channel, onMessage) {
      const unlisten = await pglite.listen(channel, onMessage)
      return { isListening: () => true, close: () => unlisten() }
    },
    async ping() {
      await pglite.query('select 1')
    },
    close: once(async () => {
      await pglite.close()
      releaseLock?.()
    }),
  }
}

/** A LISTEN connection outside the pool that reconnects by itself; while it is down, `isListening()` is false. */
async function listenOnServer(pg: typeof import('pg').default, url: string, channel: string, onMessage: (payload: string) => void, onReset: () => void, logger?: Logger): Promise<Listener> {
  let client: pg.Client | undefined
  let listening = false
  let closed = false
  let retry: NodeJS.Timeout | undefined
  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_500, keepAlive: true })
    const lost = (err?: Error) => {
      if (client !== next) return
      listening = false
      client = undefined
      onReset()
      next.end().catch(() => undefined)
      if (closed) return
      logger?.warn({ err }, `LISTEN ${channel} connection lost: reconnecting`)
      retry = setTimeout(() => void connect().catch(() => lost()), 1_000)
      retry.unref()
    }
    client = next
    next.on('error', lost)
    next.on('end', () => lost())
    next.on('notification', (n) => { if (n.channel === channel) onMessage(n.payload ?? '') })
    await next.connect()
    await next.query(`LISTEN ${channel}`)
    // Anything that changed while we were not listening is unknown: start from nothing.
    onReset()
    listening = true
  }
  try {
    await connect()
  } catch (err) {
    logger?.warn({ err }, `LISTEN ${channel} unavailable: retrying in the background`)
    retry = setTimeout(() => void connect().catch(() => undefined), 1_000)
    retry.unref()
  }
  return {
    isListening: () => listening,
    async close() {
      closed = true
      clearTimeout(retry)
      listening = false
      await client?.end().catch(() => undefined)
    },
  }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined
  return () => (closing ??= fn())
}
