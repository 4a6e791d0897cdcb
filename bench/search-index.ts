// `q` over an owner with 100,000 items (docs/scale.md's million-row set-up with 10 owners), with each trigram index
// behind it in turn, in rotating order within each round of one run: no index (the ILIKE scan `q` was before SPEC
// §9), the name-only index of migration 0008, and the owner-led one of 0013 (btree_gin) that Keel now creates; the
// indexes are dropped and built again between states, so all three run on the same rows and the same Keel.
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
const INDEXES = {
  without: undefined,
  'name-only': 'CREATE INDEX items_name_trgm_idx ON items USING gin (name gin_trgm_ops)',
  'owner-led': 'CREATE INDEX items_owner_id_name_trgm_idx ON items USING gin (owner_id, name gin_trgm_ops)',
}
type State = keyof typeof INDEXES
const STATES = Object.keys(INDEXES) as State[]
const dropIndexes = 'DROP INDEX IF EXISTS items_name_trgm_idx; DROP INDEX IF EXISTS items_owner_id_name_trgm_idx'
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
    await exec(sql.raw(dropIndexes))
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
    const builds: string[] = []
    try {
      for (let round = 0; round < Number(values.rounds); round++) {
        const states = [...STATES.slice(round % STATES.length), ...STATES.slice(0, round % STATES.length)]
        for (const state of states) {
          await exec(sql.raw(dropIndexes))
          const create = INDEXES[state]
          if (create) {
            const t0 = performance.now()
            await exec(sql.raw(create))
            builds.push(`${state} ${((performance.now() - t0) / 1000).toFixed(1)}`)
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
        + `index builds (s): ${builds.join(', ')}`,
      '',
      '| request | index | req/s median (min–max) | ratio to no index | DB CPU ms/req |',
      '|---|---|---|---|---|',
    ]
    const rps = (rs: LoadResult[]) => rs.map((r) => r.rps)
    for (const s of scenarios) {
      const base = median(rps(runs.get(`${s.id}:without`)!))
      for (const state of STATES) {
        const rs = runs.get(`${s.id}:${state}`)!
        const xs = rps(rs)
        lines.push(`| ${s.title} | ${state} | ${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)}) `
          + `| ${(median(xs) / base).toFixed(1)}× | ${median(rs.map((r) => r.dbCpuMsPerRequest ?? NaN)).toFixed(2)} |`)
      }
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
