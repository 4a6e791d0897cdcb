// `q` over an owner with 100,000 items (docs/scale.md's million-row set-up with 10 owners), with and without the
// pg_trgm index behind it, in alternating rounds of one run: the index is dropped and created again between rounds,
// so "without" is the ILIKE scan `q` was before SPEC §9 and "with" is today's plan, on the same rows and the same Keel.
//
//   npx tsx bench/search-index.ts [--items 1000000] [--users 10] [--rounds 3] [--duration 10] [--term abc]
import { parseArgs } from 'node:util'
import { sql } from 'drizzle-orm'
import { createDatabase } from '../src/db/client.js'
import { createMigrator } from '../src/db/migrator.js'
import { seedDatabase } from '../src/db/seed.js'
import { checkpoint, createBenchDatabase } from './database.js'
import { measure, type LoadResult } from './load.js'
import { login } from './scenarios.js'
import { buildKeel, freePort, keelEnv, startKeel } from './server-process.js'
import { findWrk } from './wrk.js'

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '1000000' },
    users: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    workers: { type: 'string', default: 'auto' },
    term: { type: 'string', default: 'abc' },
    'skip-build': { type: 'boolean', default: false },
  },
})
const root = new URL('..', import.meta.url).pathname
const adminUrl = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
const started = performance.now()
const log = (m: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${m}\n`)
const INDEX = 'items_name_trgm_idx'
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

async function main(): Promise<void> {
  if (!values['skip-build']) buildKeel(root)
  const target = await createBenchDatabase('postgres', adminUrl)
  // No query timeout: the seed's batches and the index builds take seconds.
  const database = await createDatabase({ databaseUrl: target.url, poolSize: 2, queryTimeoutMs: 0 })
  const exec = async (query: ReturnType<typeof sql>) => (await database.db.execute(query)) as unknown as { rows: Record<string, unknown>[] }
  try {
    await createMigrator(database).migrate()
    // Bulk-built afterwards: a million inserts into a GIN index would take several times the seed.
    await exec(sql.raw(`DROP INDEX ${INDEX}`))
    log(`▶ seeding ${values.items} items over ${values.users} users (src/db/seed.ts)`)
    const owners = await seedDatabase(database, { users: Number(values.users), items: Number(values.items), bcryptRounds: 4 })
    const owner = owners[0]!
    const term = values.term
    const [stats] = (await exec(sql`select count(*)::int as owned, count(*) filter (where name ilike ${`%${term}%`})::int as matches
      from items where owner_id = ${owner}`)).rows
    log(`  owner ${owner}: ${String(stats!.owned)} items, ${String(stats!.matches)} match q=${term}`)
    await checkpoint(target, adminUrl)

    const env = keelEnv({ port: await freePort(), databaseUrl: target.url, dataDir: `${root}data`, workers: values.workers, bcryptRounds: 10 })
    const keel = await startKeel(root, env, [])
    const token = (await login(keel.baseUrl, 'seed-0001@example.com', 'seed-password')).access_token
    const headers = { authorization: `Bearer ${token}` }
    const scenarios = [
      { id: 'offset', path: `/api/v1/items?limit=20&q=${term}`, title: `GET /api/v1/items?limit=20&q=${term} (with total)` },
      { id: 'cursor', path: `/api/v1/items?limit=20&q=${term}&cursor=`, title: `GET /api/v1/items?limit=20&q=${term}&cursor= (no total)` },
    ]
    const runs = new Map<string, LoadResult[]>()
    const builds: number[] = []
    try {
      for (let round = 0; round < Number(values.rounds); round++) {
        const states = round % 2 === 0 ? ['without', 'with'] : ['with', 'without']
        for (const state of states) {
          if (state === 'with') {
            const t0 = performance.now()
            await exec(sql.raw(`CREATE INDEX IF NOT EXISTS ${INDEX} ON items USING gin (name gin_trgm_ops)`))
            builds.push(performance.now() - t0)
          } else {
            await exec(sql.raw(`DROP INDEX IF EXISTS ${INDEX}`))
          }
          await exec(sql`ANALYZE items`)
          for (const s of round % 2 === 0 ? scenarios : [...scenarios].reverse()) {
            const r = await measure({
              baseUrl: keel.baseUrl, connections: Number(values.connections), durationSeconds: Number(values.duration),
              warmupSeconds: 2, serverPid: keel.pid, measureDb: true, wrk: findWrk(),
            }, { method: 'GET', path: s.path, headers })
            const key = `${s.id}:${state}`
            runs.set(key, [...(runs.get(key) ?? []), r])
            log(`  round ${round + 1} ${state} index, ${s.title}: ${r.rps.toFixed(1)} req/s, p50 ${r.latencyMs.p50.toFixed(1)} ms, `
              + `p99 ${r.latencyMs.p99.toFixed(1)} ms, DB CPU ${r.dbCpuMsPerRequest?.toFixed(2)} ms/req, ${r.non2xx} non-2xx, ${r.errors} errors`)
          }
        }
      }
    } finally {
      await keel.stop()
    }
    const lines = [
      `q=${term} over owner ${owner}: ${String(stats!.owned)} items (${String(stats!.matches)} matches), ${values.items} in the table; `
        + `${values.rounds} alternating rounds of ${values.duration} s, ${values.connections} connections, WORKERS=${values.workers}; `
        + `index build ${builds.map((ms) => (ms / 1000).toFixed(1)).join(', ')} s`,
      '',
      '| request | without index: req/s median (min–max) | with index | ratio | DB CPU ms/req without / with |',
      '|---|---|---|---|---|',
    ]
    for (const s of scenarios) {
      const [without, withIndex] = [runs.get(`${s.id}:without`)!, runs.get(`${s.id}:with`)!]
      const rps = (rs: LoadResult[]) => rs.map((r) => r.rps)
      const range = (xs: number[]) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`
      const db = (rs: LoadResult[]) => median(rs.map((r) => r.dbCpuMsPerRequest ?? NaN)).toFixed(2)
      lines.push(`| ${s.title} | ${range(rps(without))} | ${range(rps(withIndex))} | ${(median(rps(withIndex)) / median(rps(without))).toFixed(1)}× `
        + `| ${db(without)} / ${db(withIndex)} |`)
    }
    process.stdout.write(`${lines.join('\n')}\n`)
  } finally {
    await database.close()
    await target.drop()
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err)
  process.exit(1)
})
