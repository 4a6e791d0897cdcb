// `npm run bench`: Keel under load on a fresh database, next to references measured in the same run.
// See docs/benchmark.md for what each column means.
import { execFileSync } from 'node:child_process'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { captureRequestSql } from './capture-sql.js'
import { checkpoint, createBenchDatabase, settleTables, type BenchDatabase } from './database.js'
import { measure, settle, type LoadResult, type LoadSettings } from './load.js'
import { measureEventWriteCost, measureFanOut } from './events-cost.js'
import { measureFeatureCost, measureMetricsCost, measureTracingCost, type FeatureCost } from './feature-cost.js'
import { parseOptions, resolveWorkers, UsageError, type BenchOptions } from './options.js'
import { findPgbench, measureBareHttp, measureBcryptCeiling, pgbenchScript, runPgbench } from './references.js'
import { renderMarkdown, writeResults, type BenchReport, type ScenarioReport } from './report.js'
import { buildScenarios, openSessions, SCENARIO_IDS, type Sessions } from './scenarios.js'
import { seed, type SeedResult } from './seed.js'
import { buildKeel, freePort, keelEnv, startKeel, type KeelProcess } from './server-process.js'
import { comparePoolers } from './through-pgbouncer.js'
import type { LoadSpec } from './load-spec.js'

const root = dirname(dirname(fileURLToPath(import.meta.url)))
const started = performance.now()
const log = (message: string) => process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(1).padStart(5)} s] ${message}\n`)
const errorText = (err: unknown) => (err instanceof Error ? err.message : String(err))

function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src', 'migrations', 'package.json'], { cwd: root, encoding: 'utf8' }).trim()
    return dirty ? `${commit} with uncommitted changes in src/` : commit
  } catch {
    return 'unknown'
  }
}

/** A scenario "works" when most of its answers are 2xx: below that the numbers describe errors, not Keel. */
function checkScenario(s: ScenarioReport, keelPid: number, problems: string[], observations: string[]): void {
  const r = s.result
  if (!r) return void problems.push(`${s.title}: ${s.error}`)
  // A cluster primary should only fork and supervise: a visible share of the CPU means per-request work (IPC) there.
  const total = Object.values(r.serverCpuSecondsByPid).reduce((a, b) => a + b, 0)
  const primary = r.serverProcesses > 1 ? r.serverCpuSecondsByPid[String(keelPid)] ?? 0 : 0
  if (total > 0 && primary / total > 0.05) observations.push(`${s.title}: the cluster primary used ${Math.round((primary / total) * 100)} % of Keel's CPU`)
  if ((r.otherCpuPercent ?? 0) > 15) observations.push(`${s.title}: other processes used ${Math.round(r.otherCpuPercent!)} % of a core during the run: the machine was not quiet`)
  const failed = r.non2xx + r.errors
  if (r.responses === 0) problems.push(`${s.title}: no response within ${r.seconds.toFixed(1)} s`)
  else if (failed > (r.responses + r.errors) / 2) problems.push(`${s.title}: ${failed} of ${r.responses + r.errors} requests failed ${JSON.stringify(r.statusCodes)}`)
  else if (failed > 0) observations.push(`${s.title}: ${r.non2xx} non-2xx and ${r.errors} errors (${r.timeouts} timeouts); status codes ${JSON.stringify(r.statusCodes)}`)
}

const loadSettings = (options: BenchOptions, keel: KeelProcess): LoadSettings => ({
  baseUrl: keel.baseUrl, connections: options.connections, durationSeconds: options.durationSeconds,
  warmupSeconds: options.warmupSeconds, serverPid: keel.pid, measureDb: options.engine === 'postgres', wrk: options.wrk,
})

const medianByRps = (runs: LoadResult[]) => [...runs].sort((a, b) => a.rps - b.rps)[Math.floor((runs.length - 1) / 2)]!

/**
 * Each scenario once, or with --rounds N, N times in alternating order (A B C, C B A, …) with the median run reported:
 * two scenarios compared within a run (items next to a generated resource) then get the same share of a machine
 * that grows busier or quieter, and neither always runs first after the seed.
 */
async function runScenarios(
  options: BenchOptions, target: BenchDatabase, keel: KeelProcess, seeded: SeedResult, sessions: Sessions, report: BenchReport,
): Promise<void> {
  const settings = loadSettings(options, keel)
  const scenarios = buildScenarios(seeded, sessions, options.bcryptRounds)
    .filter((s) => options.only.length === 0 || options.only.includes(s.id))
  const runs = new Map<string, LoadResult[]>(scenarios.map((s) => [s.id, []]))
  const errors = new Map<string, string>()
  for (let round = 0; round < options.scenarioRounds; round++) {
    const order = round % 2 === 0 ? scenarios : [...scenarios].reverse()
    for (const scenario of order) {
      if (errors.has(scenario.id)) continue
      const of = options.scenarioRounds > 1 ? `, round ${round + 1} of ${options.scenarioRounds}` : ''
      log(`▶ ${scenario.title} (${scenario.detail}${of})`)
      try {
        await settleTables(target)
        const durationSeconds = Math.max(settings.durationSeconds, scenario.minSeconds ?? 0)
        const r = await measure({ ...settings, durationSeconds }, scenario.load)
        runs.get(scenario.id)!.push(r)
        log(`  ${Math.round(r.rps)} req/s, p99 ${r.latencyMs.p99.toFixed(1)} ms, ${r.non2xx} non-2xx, ${r.errors} errors`)
      } catch (err) {
        errors.set(scenario.id, errorText(err))
      }
    }
  }
  for (const scenario of scenarios) {
    const measured = runs.get(scenario.id)!
    const entry: ScenarioReport = { id: scenario.id, title: scenario.title, detail: scenario.detail }
    if (errors.has(scenario.id)) entry.error = errors.get(scenario.id)
    else entry.result = medianByRps(measured)
    if (measured.length > 1) entry.roundsRps = measured.map((r) => r.rps)
    if (entry.result) report.keel.processes = Math.max(report.keel.processes, ...measured.map((r) => r.serverProcesses))
    report.scenarios.push(entry)
    checkScenario(entry, keel.pid, report.problems, report.observations)
  }
}

/** What --metrics-cost and --tracing-cost compare: item GET on two fresh Keels, the feature on and off (bench/feature-cost.ts). */
interface FeatureRun<R extends FeatureCost> {
  name: 'metrics' | 'tracing' | 'replica routing'
  /** The variable that turns the feature on, for the log. */
  variable: string
  rounds: number
  measure: (spec: LoadSpec) => Promise<R>
  store: (cost: R) => void
  /** Extra words for the log line. */
  describe?: (cost: R) => string
}

async function runFeatureCost<R extends FeatureCost>(
  run: FeatureRun<R>, options: BenchOptions, seeded: SeedResult, sessions: Sessions, report: BenchReport,
): Promise<void> {
  const label = `${run.name} cost`
  if (options.engine !== 'postgres') return void (report.references.skipped[label] = 'needs PostgreSQL: two Keel processes share the database')
  const itemGet = buildScenarios(seeded, sessions, options.bcryptRounds).find((s) => s.id === 'item-get')!
  log(`▶ ${label}: ${itemGet.title} with ${run.variable} vs without, ${run.rounds} round(s)`)
  try {
    const c = await run.measure(itemGet.load)
    run.store(c)
    log(`  throughput ${(c.throughputCost * 100).toFixed(1)} % lower, CPU per request ${(c.cpuCost * 100).toFixed(1)} % higher${run.describe ? `, ${run.describe(c)}` : ''}`)
  } catch (err) {
    report.problems.push(`${label}: ${errorText(err)}`)
  }
}

const itemCreate = (options: BenchOptions, seeded: SeedResult, sessions: Sessions) =>
  buildScenarios(seeded, sessions, options.bcryptRounds).find((s) => s.id === 'item-create')!

/** The event write's price on item POST: its trigger disabled vs enabled on one fresh Keel (bench/events-cost.ts). */
async function runEventsCost(
  options: BenchOptions, root: string, env: Record<string, string>, settings: LoadSettings, seeded: SeedResult, sessions: Sessions, report: BenchReport,
): Promise<void> {
  if (options.engine !== 'postgres') return void (report.references.skipped['event write cost'] = 'needs PostgreSQL: the trigger is switched from a second connection')
  const scenario = itemCreate(options, seeded, sessions)
  log(`▶ event write cost: ${scenario.title} with items' event trigger disabled vs enabled, ${options.eventsCostRounds} round(s)`)
  try {
    const c = await measureEventWriteCost(root, env, options.nodeArgs, settings, scenario.load, options.eventsCostRounds)
    report.eventsCost = c
    log(`  POST with events / without: ${(1 - c.throughputCost).toFixed(3)} (median req/s; rounds' median ${c.pairedRatio.toFixed(3)}), PostgreSQL CPU per request ${(c.dbCpuCost * 100).toFixed(1)} % higher`)
    if (c.eventsWhileOff) report.problems.push(`event write cost: ${c.eventsWhileOff} events were written while the trigger was disabled`)
    if (!c.eventsWritten) report.problems.push('event write cost: no events were written while the trigger was enabled')
  } catch (err) {
    report.problems.push(`event write cost: ${errorText(err)}`)
  }
}

/** Events delivered per second to N open streams while item POST runs, on the main Keel (both engines). */
async function runFanOut(
  options: BenchOptions, keel: KeelProcess, settings: LoadSettings, seeded: SeedResult, sessions: Sessions, report: BenchReport,
): Promise<void> {
  const scenario = itemCreate(options, seeded, sessions)
  log(`▶ fan-out: ${scenario.title} with ${options.fanOutStreams} event streams of the writer open`)
  try {
    await settle(keel.pid)
    const f = await measureFanOut(keel, settings, scenario.load, sessions.accessTokens.get(seeded.writer.email)!, options.fanOutStreams)
    report.fanOut = f
    log(`  ${Math.round(f.deliveredPerSecond)} events/s delivered across ${f.opened} streams (${f.delivered} of ${f.expected}), ${Math.round(f.writeRps)} writes/s, lag p99 ${f.latencyMs.p99} ms`)
    // Findings about Keel, not a broken harness: observations (the exit code stays 0).
    if (f.missing.length) report.observations.push(`fan-out: ${f.missing.length} event(s) of the run in the log never came live on the first stream: ids ${f.missing.slice(0, 20).join(', ')}`)
    if (f.outOfOrder) report.observations.push(`fan-out: ${f.outOfOrder} stream(s) received an id not above the one before it`)
    if (f.endedEarly) report.observations.push(`fan-out: Keel ended ${f.endedEarly} of ${f.opened} streams during the run (a reader too slow: more than 1 MiB waiting)`)
    else if (f.delivered !== f.expected) report.observations.push(`fan-out: ${f.delivered} events of the run received of the ${f.expected} expected (${f.runEvents} in the log × ${f.opened} streams; ${f.writes} writes answered in the run): ${f.short}`)
  } catch (err) {
    report.problems.push(`fan-out: ${errorText(err)}`)
  }
}

/** Keel processes that answered requests: a cluster primary only supervises. */
const servingProcesses = (report: BenchReport) => Math.max(1, report.keel.processes - (report.keel.processes > 1 ? 1 : 0))

/** Captures the SQL of one GET item and replays it with pgbench: the whole request's SQL, then the item SELECT alone. */
async function pgbenchReference(
  pgbench: string, url: string, env: Record<string, string>, seeded: SeedResult, readerToken: string, options: BenchOptions, report: BenchReport,
): Promise<void> {
  const ids = seeded.readerItemIds
  // An id from the middle of the range: unlikely to equal another parameter (user ids are small).
  const itemId = ids[Math.floor(ids.length / 2)]!
  const request = `GET /api/v1/items/${itemId}`
  const statements = await captureRequestSql(url, env, { method: 'GET', url: `/api/v1/items/${itemId}`, headers: { authorization: `Bearer ${readerToken}` } })
  if (statements.length === 0) throw new Error(`no SQL captured for ${request}: does Keel still query through node-postgres?`)
  report.capturedSql = { request, statements }
  // Random items like the Keel scenario, when the owner's ids are one range (they are: seeded in one go).
  const contiguous = ids.at(-1)! - ids[0]! + 1 === ids.length
  const variables = contiguous ? new Map([[String(itemId), ':item_id']]) : new Map<string, string>()
  const preamble = contiguous ? [`\\set item_id random(${ids[0]}, ${ids.at(-1)})`] : []
  const protocol = statements.some((s) => s.name) ? 'named prepared statements' : 'unnamed extended-protocol statements'
  const run = { clients: options.connections, seconds: options.durationSeconds }
  report.references.pgbench = { ...runPgbench(pgbench, url, pgbenchScript(statements, variables, preamble), run), statements: statements.length, protocol }
  const select = statements.filter((s) => /from "items"/i.test(s.text))
  if (select.length === 1 && statements.length > 1) report.references.pgbenchItemOnly = runPgbench(pgbench, url, pgbenchScript(select, variables, preamble), run)
}

/** Each reference runs only when the scenario compared to it ran, after Keel has stopped (it would compete for the cores). */
async function runReferences(
  options: BenchOptions, target: BenchDatabase, env: Record<string, string>, seeded: SeedResult, readerToken: string, report: BenchReport,
): Promise<void> {
  const ran = (id: string) => report.scenarios.find((s) => s.id === id && s.result)
  const refs = report.references
  const seconds = options.durationSeconds
  const attempt = async (name: string, fn: () => Promise<void>) => {
    try {
      log(`▶ reference: ${name}`)
      await fn()
    } catch (err) {
      report.problems.push(`reference ${name}: ${errorText(err)}`)
    }
  }

  const healthz = ran('healthz')
  if (healthz) {
    await attempt('bare node:http', async () => {
      // As many serving processes as Keel had: the ratio then measures the framework, not the process count.
      const processes = servingProcesses(report)
      refs.bareHttp = { ...await measureBareHttp(root, processes, {
        connections: options.connections, durationSeconds: seconds, warmupSeconds: options.warmupSeconds, measureDb: false, wrk: options.wrk,
      }), processes }
      healthz.versus = { label: 'bare node:http', ratio: healthz.result!.rps / refs.bareHttp.rps }
    })
  }

  const itemGet = ran('item-get')
  const pgbench = findPgbench()
  if (itemGet && !target.url) refs.skipped.pgbench = 'needs PostgreSQL (--engine postgres)'
  else if (itemGet && !pgbench) refs.skipped.pgbench = 'pgbench not found (set PGBENCH or install postgresql-client)'
  else if (itemGet && target.url && pgbench) {
    await attempt('pgbench', async () => {
      await pgbenchReference(pgbench, target.url!, env, seeded, readerToken, options, report)
      itemGet.versus = { label: 'pgbench on its SQL', ratio: itemGet.result!.rps / refs.pgbench!.tps }
    })
  }

  const loginScenario = ran('login')
  if (loginScenario) {
    await attempt('bcrypt ceiling', async () => {
      // libuv's pool has 4 threads unless UV_THREADPOOL_SIZE says otherwise, in each Keel process.
      const threads = servingProcesses(report) * (Number(process.env.UV_THREADPOOL_SIZE) || 4)
      refs.bcrypt = { ...measureBcryptCeiling(root, options.bcryptRounds, Math.min(seconds, 10), threads), cores: availableParallelism() }
      loginScenario.versus = { label: 'the bcrypt ceiling', ratio: loginScenario.result!.rps / refs.bcrypt.hashesPerSecond }
    })
  }
}

/** SIGTERM once Keel is idle; an unclean exit and anything logged at warn or above become observations. */
async function stopKeel(keel: KeelProcess, report: BenchReport): Promise<void> {
  // Let the last scenario's abandoned requests finish: the stop should measure a drain, not cut logins short.
  await settle(keel.pid)
  report.keel.stopExitCode = await keel.stop()
  if (report.keel.stopExitCode !== 0) report.observations.push(`Keel did not exit 0 on SIGTERM (exit code ${report.keel.stopExitCode})`)
  const lines = keel.logLines()
  report.keel.logLines = lines.slice(0, 20)
  if (lines.length) report.observations.push(`Keel logged ${lines.length} line(s) at warn level or above, first: ${lines[0]!.slice(0, 300)}`)
}

function newReport(options: BenchOptions, startedAt: Date): BenchReport {
  const { adminUrl: _adminUrl, ...settings } = options
  return {
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    commit: gitCommit(),
    machine: {
      node: process.version,
      cpus: availableParallelism(),
      cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
      memoryMb: totalmem() / 1_048_576,
      // Taken before anything starts: a reader can tell whether the machine was quiet.
      loadAverageBefore: loadavg(),
    },
    settings: { ...settings, workersResolved: resolveWorkers(options.workers) },
    database: '',
    keel: { startupMs: NaN, processes: 0, stopExitCode: undefined, logLines: [] },
    seed: { users: 0, smallOwnerItems: 0, bigOwnerItems: 0, searchTerm: '', searchMatches: 0 },
    scenarios: [],
    references: { skipped: {} },
    problems: [],
    observations: [],
  }
}

async function main(): Promise<number> {
  const options = parseOptions()
  const unknown = options.only.filter((id) => !SCENARIO_IDS.includes(id))
  if (unknown.length) throw new UsageError(`unknown scenario id(s) ${unknown.join(', ')}; known: ${SCENARIO_IDS.join(', ')}`)
  const report = newReport(options, new Date())
  log(`Keel bench: engine ${options.engine}, WORKERS=${options.workers}, ${options.connections} connections, ${options.durationSeconds} s per scenario`)
  if (!options.skipBuild) {
    log('▶ building (npm run build: the bundle in dist/)')
    buildKeel(root)
  }

  const target = await createBenchDatabase(options.engine, options.adminUrl)
  report.database = target.describe
  let keel: KeelProcess | undefined
  // Ctrl-C must not leave a Keel running or a database behind.
  const onSignal = () => {
    log('interrupted: cleaning up')
    void (keel?.stop() ?? Promise.resolve()).finally(() => target.drop().finally(() => process.exit(130)))
  }
  process.once('SIGINT', onSignal)
  process.once('SIGTERM', onSignal)
  try {
    log(`▶ seeding ${target.url ? target.url.replace(/\/\/[^@]*@/, '//') : target.dataDir}`)
    const seeded = await seed(target, { items: options.items, bcryptRounds: options.bcryptRounds })
    report.seed = {
      users: 3 + seeded.sessions.length, smallOwnerItems: seeded.readerItemIds.length, bigOwnerItems: seeded.listerItems,
      searchTerm: seeded.searchTerm, searchMatches: seeded.searchMatches,
    }
    await checkpoint(target, options.adminUrl)

    const env = keelEnv({
      port: await freePort(), databaseUrl: target.url, dataDir: target.dataDir ?? join(root, 'data'),
      workers: options.workers, bcryptRounds: options.bcryptRounds,
    })
    log('▶ starting Keel')
    keel = await startKeel(root, env, options.nodeArgs)
    report.keel.startupMs = keel.startupMs
    log(`  ready in ${Math.round(keel.startupMs)} ms`)
    const sessions = await openSessions(keel.baseUrl, seeded, options.connections)
    if (options.through) {
      report.poolers = await comparePoolers({ root, options, target, env, seeded, sessions, direct: keel, report, log })
      await stopKeel(keel, report)
      keel = undefined
    } else {
      await runScenarios(options, target, keel, seeded, sessions, report)
      const settings = loadSettings(options, keel)
      if (options.fanOutStreams) await runFanOut(options, keel, settings, seeded, sessions, report)
      await stopKeel(keel, report)
      keel = undefined
      // After the main Keel stopped: the pair measured next has the machine (and the database's connections) to itself.
      if (options.metricsCostRounds) {
        await runFeatureCost({
          name: 'metrics', variable: 'METRICS_PORT', rounds: options.metricsCostRounds,
          measure: (spec) => measureMetricsCost(root, env, options.nodeArgs, settings, spec, options.metricsCostRounds),
          store: (c) => { report.metricsCost = c },
        }, options, seeded, sessions, report)
      }
      if (options.tracingCostRounds) {
        await runFeatureCost({
          name: 'tracing', variable: 'OTEL_EXPORTER_OTLP_ENDPOINT', rounds: options.tracingCostRounds,
          measure: (spec) => measureTracingCost(root, env, options.nodeArgs, settings, spec, options.tracingCostRounds),
          store: (c) => { report.tracingCost = c },
          describe: (c) => `${c.spansReceived} spans exported`,
        }, options, seeded, sessions, report)
      }
      if (options.replicaCostRounds) {
        // BENCH_REPLICA_URL (a server, as BENCH_DATABASE_URL is; e.g. HAProxy's replica port of `npm run test:ha --
        // --keep-up`): reads on real standbys. Otherwise the same server as the "replica": what is measured is the
        // routing (context, position lookup, second pool).
        const replicaUrl = onServer(env.DATABASE_URL!, process.env.BENCH_REPLICA_URL)
        report.replicaServer = process.env.BENCH_REPLICA_URL ? new URL(process.env.BENCH_REPLICA_URL).host : undefined
        await runFeatureCost({
          name: 'replica routing', variable: 'DATABASE_REPLICA_URL', rounds: options.replicaCostRounds,
          measure: (spec) => measureFeatureCost(root, env, { DATABASE_REPLICA_URL: replicaUrl }, options.nodeArgs, settings, spec, options.replicaCostRounds),
          store: (c) => { report.replicaCost = c },
        }, options, seeded, sessions, report)
      }
      if (options.eventsCostRounds) await runEventsCost(options, root, env, settings, seeded, sessions, report)
      const readerToken = sessions.accessTokens.get(seeded.reader.email)!
      await runReferences(options, target, env, seeded, readerToken, report)
    }
  } catch (err) {
    report.problems.push(errorText(err))
  } finally {
    await keel?.stop()
    await target.drop().catch((err: unknown) => log(`could not drop the bench database: ${errorText(err)}`))
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }

  report.finishedAt = new Date().toISOString()
  const markdown = renderMarkdown(report)
  process.stdout.write(`${markdown}\n`)
  const files = writeResults(join(root, 'bench', 'results'), report, markdown)
  log(`results: ${files.map((f) => relative(root, f)).join(', ')}`)
  if (report.problems.length) log(`harness problems:\n${report.problems.map((p) => `  - ${p}`).join('\n')}`)
  return report.problems.length ? 1 : 0
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error(err instanceof UsageError ? err.message : err)
  process.exit(err instanceof UsageError ? 2 : 1)
})

/** `databaseUrl`'s database on `server` (a connection string to any database there), or `databaseUrl` itself. */
function onServer(databaseUrl: string, server: string | undefined): string {
  if (!server) return databaseUrl
  const url = new URL(server)
  url.pathname = new URL(databaseUrl).pathname
  return url.toString()
}
