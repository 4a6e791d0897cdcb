import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import type { Engine } from './options.js'

/** Where this run's Keel keeps its data: a fresh PostgreSQL database or a temporary PGlite directory. */
export interface BenchDatabase {
  engine: Engine
  /** Set on PostgreSQL: the fresh database's URL. */
  url: string | undefined
  /** Set on PGlite: the temporary DATA_DIR. */
  dataDir: string | undefined
  /** Server version and the settings that decide what a "durable commit" costs. */
  describe: string
  drop(): Promise<void>
}

async function withAdmin<T>(adminUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl, connectionTimeoutMillis: 5_000 })
  await client.connect()
  try {
    return await fn(client)
  } finally {
    await client.end()
  }
}

export async function createBenchDatabase(engine: Engine, adminUrl: string): Promise<BenchDatabase> {
  if (engine === 'pglite') {
    const dataDir = mkdtempSync(join(tmpdir(), 'keel-bench-'))
    return {
      engine, url: undefined, dataDir, describe: 'PGlite (embedded, single connection)',
      drop: async () => rmSync(dataDir, { recursive: true, force: true }),
    }
  }
  const name = `keel_bench_${new Date().toISOString().replace(/\D/g, '').slice(0, 14)}_${process.pid}`
  const describe = await withAdmin(adminUrl, async (client) => {
    await client.query(`CREATE DATABASE ${name}`)
    const settings = await client.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'synchronous_commit', 'fsync', 'shared_buffers', 'max_connections') ORDER BY name`,
    )
    const s = Object.fromEntries(settings.rows.map((r) => [r.name, r.setting]))
    return `PostgreSQL ${s.server_version}, synchronous_commit=${s.synchronous_commit}, fsync=${s.fsync}, max_connections=${s.max_connections}`
  })
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return {
    engine, url: url.toString(), dataDir: undefined, describe,
    drop: () => withAdmin(adminUrl, async (client) => {
      // FORCE: a Keel that did not stop cleanly may still hold connections.
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    }),
  }
}

/** Best effort: a checkpoint, so the seed's writes are not flushed in the middle of a scenario. */
export async function checkpoint(database: BenchDatabase, adminUrl: string): Promise<void> {
  if (!database.url) return
  await withAdmin(adminUrl, (client) => client.query('CHECKPOINT')).catch(() => undefined)
}

/**
 * VACUUM ANALYZE of the bench database, before every measured scenario. A write scenario adds tens of thousands of
 * rows in seconds; until autovacuum and autoanalyze catch up, the planner still believes the big owner holds most of
 * `items` and counts its rows with a sequential scan over the grown table, so a list measured right after item-create
 * ran 4-5x slower than one measured before it (1,100 vs 225-320 req/s, every build alike). Settling the tables as
 * autovacuum eventually would makes each scenario's figure independent of what ran before it.
 */
export async function settleTables(database: BenchDatabase): Promise<void> {
  if (!database.url) return
  await withAdmin(database.url, (client) => client.query('VACUUM ANALYZE'))
}
