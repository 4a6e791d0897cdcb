import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { PGlite } from '@electric-sql/pglite'
import type { PgDatabase, PgQueryResultHKT } from 'drizzle-orm/pg-core'
import type pg from 'pg'
import type { Logger } from 'pino'
import { acquireDataDirLock } from './data-dir-lock.js'
import { listenOnServer, type Listener } from './listener.js'
import { createOutageLog, type OutageLog } from './outage.js'
import { discardBrokenClients } from './pool-guard.js'
import { dropStatementNames, type DatabasePooler } from './poolers.js'
import { lsnToNumber } from './request-context.js'
import { RoutingPool, type RouteTarget } from './router.js'

export type { Listener } from './listener.js'

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
   * missed (the connection dropped); `isListening()` says whether they are known to be received now.
   */
  listen(channel: string, onMessage: (payload: string) => void, onReset: () => void): Promise<Listener>
  /** Resolves when the database answers a trivial query: the primary, or else the replica (reads are still served). */
  ping(): Promise<void>
  /** Whether GETs may read on a replica (DATABASE_REPLICA_URL). */
  readonly hasReplica: boolean
  /** The primary's current WAL insert position (bytes): at least the commit position of every write acknowledged so far. */
  commitPosition?(): Promise<number>
  /** A request was answered 503 because the database was unavailable: counted in the outage's log line (outage.ts). */
  refused(err: unknown): void
  /** A background job (a worker, the event hub) found the database unavailable: the outage log records it, once. */
  unavailable(err: unknown): void
  /** Connection-pool figures for /metrics; absent on the embedded engine (one connection, no pool). */
  poolStats?(): { total: number; idle: number; waiting: number }
  /** Closes the pool or the engine; later calls resolve with the first one. */
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
  /** `transaction`: DATABASE_URL is a transaction pooler, so no named prepared statements (see poolers.ts). */
  pooler?: DatabasePooler | undefined
  /** The session connection for LISTEN (DATABASE_LISTEN_URL); defaults to the database URL. */
  listenUrl?: string | undefined
  /** DATABASE_REPLICA_URL: GETs read there (router.ts). Same pooler kind as the primary. */
  replicaUrl?: string | undefined
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
  const primary = openPool(pg, url, 'primary', options)
  const pool = primary.pool
  const replica = options.replicaUrl ? openPool(pg, options.replicaUrl, 'replica', options) : undefined
  const router = new RoutingPool({ pg, primary, replica, unnamed: options.pooler === 'transaction' })
  const db = drizzlePg({ client: router as unknown as pg.Pool })
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
    listen: (channel, onMessage, onReset) => listenOnServer({
      pg, url: options.listenUrl ?? url, channel, onMessage, onReset, logger: options.logger,
      notify: (to, payload) => pool.query('select pg_notify($1, $2)', [to, payload]),
    }),
    async ping() {
      // Not through the router: readiness asks the servers themselves, whatever request it is part of.
      await pool.query('select 1').catch(async (err: unknown) => {
        if (!replica) throw err
        await replica.pool.query('select 1')
      })
    },
    hasReplica: replica !== undefined,
    async commitPosition() {
      const { rows } = await pool.query<{ lsn: string }>('select pg_current_wal_insert_lsn()::text as lsn')
      return lsnToNumber(rows[0]!.lsn)
    },
    refused: (err) => primary.log.refused(err),
    unavailable: (err) => primary.log.failed(err),
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    close: once(async () => {
      await Promise.all([pool.end(), replica?.pool.end()])
    }),
  }
}

function openPool(pg: typeof import('pg').default, url: string, server: string, options: DatabaseOptions): RouteTarget & { log: OutageLog } {
  const config: pg.PoolConfig = {
    connectionString: url,
    // Both bounds keep a request that needs an unreachable or hanging database under the SPEC's 2 s before it
    // answers 503. Waiting for a pooled connection (same bound) gives up before stalled queries free theirs.
    connectionTimeoutMillis: 1_200,
    query_timeout: options.queryTimeoutMs ?? 1_500,
    keepAlive: true,
  }
  const pool = new pg.Pool({ ...config, max: options.poolSize ?? 10, idleTimeoutMillis: 30_000 })
  // An idle client losing its server emits here; unhandled it would crash the process. The outage log reports it
  // once, with the first failing request, rather than once per connection.
  pool.on('error', (err) => options.logger?.debug({ err, server }, 'idle database connection failed'))
  discardBrokenClients(pool)
  if (options.pooler === 'transaction') dropStatementNames(pool)
  return { pool, config, log: createOutageLog(server, options.logger) }
}

async function createPgliteDatabase(options: DatabaseOptions): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite')
  const { drizzle: drizzlePglite } = await import('drizzle-orm/pglite')
  let client = options.pglite
  let releaseLock: (() => Promise<void>) | undefined
  if (!client) {
    const dataDir = options.dataDir ?? './data'
    mkdirSync(dataDir, { recursive: true })
    // PGlite does not lock its directory; two processes on one directory can lose committed writes.
    releaseLock = await acquireDataDirLock(dataDir)
    try {
      client = await PGlite.create(join(dataDir, 'pgdata'), { extensions: await pgliteExtensions() })
    } catch (err) {
      await releaseLock()
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
      // In-process: a notification cannot be lost on the way.
      return { isListening: () => true, state: () => 'listening', close: () => unlisten() }
    },
    async ping() {
      await pglite.query('select 1')
    },
    hasReplica: false,
    refused: () => undefined,
    unavailable: () => undefined,
    close: once(async () => {
      await pglite.close()
      await releaseLock?.()
    }),
  }
}

/**
 * The extensions the migrations create (`pg_trgm` and `btree_gin` back `q`, SPEC §9). PGlite loads an extension's code only when
 * it is passed here at creation, so every PGlite that runs Keel's schema must be created with these.
 */
export async function pgliteExtensions() {
  const { pg_trgm } = await import('@electric-sql/pglite/contrib/pg_trgm')
  const { btree_gin } = await import('@electric-sql/pglite/contrib/btree_gin')
  return { pg_trgm, btree_gin }
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | undefined
  return () => (closing ??= fn())
}
