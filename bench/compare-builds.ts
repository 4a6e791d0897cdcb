// Two or more builds of Keel (this tree and throwaway checkouts of older commits) measured in one run, in alternating
// rounds on the same PostgreSQL, so a before/after ratio does not depend on how busy the machine was that hour.
//
//   git worktree add --detach /tmp/keel-OLD <commit> && cp -al node_modules /tmp/keel-OLD/node_modules
//   npx tsx bench/compare-builds.ts --build /tmp/keel-OLD --build . --only item-get,items-list,item-create --rounds 5
//
// Each build is seeded with its own bench/seed.ts on its own fresh database (an older build cannot run on a newer
// schema), sends its own bench/scenarios.ts (the same requests where both have the scenario), and runs alone: one
// Keel at a time, started for each round. Reported per build and scenario: the median req/s and Keel CPU ms per
// request over the rounds, with the lowest and highest, and the ratio of the medians to the first build.
import { execFileSync } from 'node:child_process'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { checkpoint, createBenchDatabase, settleTables, type BenchDatabase } from './database.js'
import { measure, type LoadResult } from './load.js'
import type { LoadSpec } from './load-spec.js'
import type { Scenario, Sessions } from './scenarios.js'
import type { SeedResult } from './seed.js'
import { buildKeel, freePort, keelEnv, startKeel } from './server-process.js'
import { findWrk } from './wrk.js'

interface BuildModules {
  seed: (target: BenchDatabase, options: { items: number; bcryptRounds: number }) => Promise<SeedResult>
  openSessions: (baseUrl: string, seed: SeedResult, connections: number) => Promise<Sessions>
  buildScenarios: (seed: SeedResult, sessions: Sessions, bcryptRounds: number) => Scenario[]
}

interface Build {
  root: string
  label: string
  modules: BuildModules
  target: BenchDatabase
  seeded: SeedResult
  env: Record<string, string>
  runs: Map<string, LoadResult[]>
}

const { values } = parseArgs({
  options: {
    build: { type: 'string', multiple: true },
    only: { type: 'string', default: 'item-get,items-list,item-create' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    workers: { type: 'string', default: 'auto' },
    items: { type: 'string', default: '10000' },
    'skip-build': { type: 'boolean', default: false },
    'no-settle': { type: 'boolean', default: false },
    'node-arg': { type: 'string', multiple: true },
  },
})
const roots = (values.build ?? []).map((b) => resolve(b))
if (roots.length < 2) throw new Error('give at least two --build <dir> (a checkout with node_modules)')
// The refresh scenario needs this tree's RefreshPool class; login measures bcrypt: neither says anything about a build.
const only = values.only.split(',').map((s) => s.trim()).filter((s) => s && s !== 'refresh')
const rounds = Number(values.rounds)
const durationSeconds = Number(values.duration)
const connections = Number(values.connections)
const adminUrl = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
const bcryptRounds = 10
const wrk = findWrk()
const started = performance.now()
const log = (m: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s] ${m}\n`)

const describeBuild = (root: string) => {
  const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()
  const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations'], { cwd: root, encoding: 'utf8' }).trim()
  return dirty ? `${commit}+changes` : commit
}

async function prepare(root: string): Promise<Build> {
  const label = describeBuild(root)
  const modules = {
    ...(await import(`${root}/bench/seed.ts`)),
    ...(await import(`${root}/bench/scenarios.ts`)),
  } as BuildModules
  if (!values['skip-build']) {
    log(`▶ ${label}: building ${root}`)
    buildKeel(root)
  }
  const target = await createBenchDatabase('postgres', adminUrl)
  log(`▶ ${label}: seeding ${values.items} items (its own bench/seed.ts)`)
  const seeded = await modules.seed(target, { items: Number(values.items), bcryptRounds })
  await checkpoint(target, adminUrl)
  const env = keelEnv({ port: await freePort(), databaseUrl: target.url, dataDir: `${root}/data`, workers: values.workers, bcryptRounds })
  return { root, label, modules, target, seeded, env, runs: new Map() }
}

async function round(build: Build, index: number): Promise<void> {
  const keel = await startKeel(build.root, build.env, values['node-arg'] ?? [])
  try {
    // Logged in each round: the run can outlast an access token.
    const sessions = await build.modules.openSessions(keel.baseUrl, build.seeded, 2)
    const scenarios = build.modules.buildScenarios(build.seeded, sessions, bcryptRounds).filter((s) => only.includes(s.id))
    const order = index % 2 === 0 ? scenarios : [...scenarios].reverse()
    for (const scenario of order) {
      // Each scenario on settled tables, whatever ran before it (see settleTables); --no-settle shows the difference.
      if (!values['no-settle']) await settleTables(build.target)
      const r = await measure({
        baseUrl: keel.baseUrl, connections, durationSeconds, warmupSeconds: Math.min(3, Math.max(1, durationSeconds / 5)),
        serverPid: keel.pid, measureDb: true, wrk,
      }, scenario.load as LoadSpec)
      if (!build.runs.has(scenario.id)) build.runs.set(scenario.id, [])
      build.runs.get(scenario.id)!.push(r)
      log(`  ${build.label} ${scenario.id}: ${Math.round(r.rps)} req/s, ${r.serverCpuMsPerRequest.toFixed(3)} ms CPU/req, `
        + `p99 ${r.latencyMs.p99.toFixed(1)} ms, ${r.non2xx} non-2xx, ${r.errors} errors, others ${Math.round(r.otherCpuPercent ?? 0)} % of a core`)
    }
  } finally {
    await keel.stop()
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2
}

function table(builds: Build[]): string {
  const lines = [
    `Builds: ${builds.map((b) => b.label).join(' vs ')}; ${rounds} alternating rounds of ${durationSeconds} s, ${connections} connections, `
      + `WORKERS=${values.workers}, ${wrk ? 'wrk' : 'autocannon'}, ${values.items} items, `
      + `${values['no-settle'] ? 'tables not settled between scenarios' : 'VACUUM ANALYZE before each scenario'}`,
    '',
    '| scenario | build | req/s median (min–max) | ratio | CPU ms/req median (min–max) | ratio | non-2xx |',
    '|---|---|---|---|---|---|---|',
  ]
  for (const id of only) {
    const base = builds[0]!.runs.get(id)
    for (const b of builds) {
      const runs = b.runs.get(id)
      if (!runs?.length) continue
      const rps = runs.map((r) => r.rps)
      const cpu = runs.map((r) => r.serverCpuMsPerRequest)
      const ratio = (m: number, of: (r: LoadResult) => number) => (base?.length ? (m / median(base.map(of))).toFixed(3) : '–')
      lines.push(`| ${id} | ${b.label} | ${Math.round(median(rps))} (${Math.round(Math.min(...rps))}–${Math.round(Math.max(...rps))}) `
        + `| ${ratio(median(rps), (r) => r.rps)} | ${median(cpu).toFixed(3)} (${Math.min(...cpu).toFixed(3)}–${Math.max(...cpu).toFixed(3)}) `
        + `| ${ratio(median(cpu), (r) => r.serverCpuMsPerRequest)} | ${runs.reduce((a, r) => a + r.non2xx + r.errors, 0)} |`)
    }
  }
  return lines.join('\n')
}

async function main(): Promise<void> {
  const builds: Build[] = []
  try {
    for (const root of roots) builds.push(await prepare(root))
    for (let i = 0; i < rounds; i++) {
      const order = i % 2 === 0 ? builds : [...builds].reverse()
      log(`▶ round ${i + 1} of ${rounds}: ${order.map((b) => b.label).join(', ')}`)
      for (const build of order) await round(build, i)
    }
    process.stdout.write(`${table(builds)}\n`)
  } finally {
    for (const b of builds) await b.target.drop().catch((err: unknown) => log(`could not drop ${b.label}'s database: ${String(err)}`))
  }
}

main().then(() => process.exit(0), (err: unknown) => {
  console.error(err)
  process.exit(1)
})
