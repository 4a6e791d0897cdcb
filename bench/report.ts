import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CapturedStatement } from './capture-sql.js'
import type { LoadResult } from './load.js'
import type { EventWriteCost, FanOutResult } from './events-cost.js'
import type { FeatureCost, MetricsCostReport } from './feature-cost.js'
import type { BenchOptions } from './options.js'
import type { BcryptCeiling, PgbenchResult } from './references.js'
import { POOLER_VARIANTS, POOLER_VARIANT_TITLES, type PoolerComparison } from './through-pgbouncer.js'

export interface ScenarioReport {
  id: string
  title: string
  detail: string
  result?: LoadResult
  error?: string
  /** Keel's figure as a share of its reference, e.g. "52 % of bare node:http". */
  versus?: { label: string; ratio: number }
  /** With --rounds N: every run's req/s in the order measured (the row shows the median run). */
  roundsRps?: number[]
}

export interface BenchReport {
  startedAt: string
  finishedAt: string
  commit: string
  machine: { node: string; cpus: number; cpuModel: string; memoryMb: number; loadAverageBefore: number[] }
  settings: Omit<BenchOptions, 'adminUrl'> & { workersResolved: number }
  database: string
  keel: { startupMs: number; processes: number; stopExitCode: number | null | undefined; logLines: string[] }
  seed: { users: number; smallOwnerItems: number; bigOwnerItems: number; searchTerm: string; searchMatches: number }
  scenarios: ScenarioReport[]
  references: {
    bareHttp?: LoadResult & { processes: number }
    pgbench?: PgbenchResult & { statements: number; protocol: string }
    pgbenchItemOnly?: PgbenchResult
    bcrypt?: BcryptCeiling & { cores: number }
    skipped: Record<string, string>
  }
  capturedSql?: { request: string; statements: CapturedStatement[] }
  /** `--through pgbouncer`: the same scenarios direct and through PgBouncer. */
  poolers?: PoolerComparison
  /** Item GET with METRICS_PORT set vs unset (--metrics-cost). */
  metricsCost?: MetricsCostReport
  tracingCost?: FeatureCost & { spansReceived: number }
  /** Item GET with DATABASE_REPLICA_URL (the primary's URL again, or BENCH_REPLICA_URL's server) vs without (--replica-cost). */
  replicaCost?: FeatureCost
  /** BENCH_REPLICA_URL's host:port, when the replica was a real standby. */
  replicaServer?: string | undefined
  /** Item POST with items' event trigger disabled vs enabled, one Keel (--events-cost). */
  eventsCost?: EventWriteCost
  /** Item POST with N SSE streams of the writer open (--fanout). */
  fanOut?: FanOutResult
  /** Harness failures: any of them makes the run exit non-zero. */
  problems: string[]
  /** Things in Keel's behaviour worth a look (errors, unclean stop, warnings logged). */
  observations: string[]
}

const dash = '–'
const int = (n: number) => Math.round(n).toLocaleString('en-US')
const rate = (n: number) => (Number.isFinite(n) ? (n < 100 ? n.toFixed(1) : int(n)) : dash)
const ms = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? dash : n < 10 ? n.toFixed(2) : n < 100 ? n.toFixed(1) : int(n))
const cpu = (n: number | undefined) => (n === undefined || !Number.isFinite(n) ? dash : n < 1 ? n.toFixed(3) : n.toFixed(1))
const share = (percent: number | undefined) => (percent === undefined ? dash : `${Math.round(percent)} %`)
const pct = (ratio: number) => `${ratio < 0.1 ? (ratio * 100).toFixed(1) : Math.round(ratio * 100)} %`

function maxRss(r: LoadResult): string {
  const values = Object.values(r.rssPeakMb)
  return values.length ? String(Math.max(...values)) : dash
}

function row(cells: string[]): string {
  return `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`
}

function scenarioRow(s: ScenarioReport, durationSeconds: number): string {
  const r = s.result
  if (!r) return row([`${s.title}`, `failed: ${s.error ?? 'unknown'}`, ...Array<string>(11).fill(dash)])
  // A scenario with a longer floor (login) says so next to its name.
  const longer = r.seconds > durationSeconds * 1.2 ? ` (${Math.round(r.seconds)} s)` : ''
  return row([
    `${s.title}${longer}`,
    rate(r.rps),
    ms(r.latencyMs.p50), ms(r.latencyMs.p95), ms(r.latencyMs.p99),
    int(r.non2xx), int(r.errors),
    cpu(r.serverCpuMsPerRequest), cpu(r.dbCpuMsPerRequest),
    maxRss(r),
    `${Math.round(r.loadGenCpuPercent)} %`,
    share(r.otherCpuPercent),
    s.versus ? `${pct(s.versus.ratio)} of ${s.versus.label}` : dash,
  ])
}

function referenceRows(refs: BenchReport['references']): string[] {
  const rows: string[] = []
  const b = refs.bareHttp
  if (b) {
    rows.push(row([`*ref:* bare node:http, ${b.processes} process${b.processes > 1 ? 'es' : ''}`, rate(b.rps),
      ms(b.latencyMs.p50), ms(b.latencyMs.p95), ms(b.latencyMs.p99), int(b.non2xx), int(b.errors),
      cpu(b.serverCpuMsPerRequest), dash, maxRss(b), `${Math.round(b.loadGenCpuPercent)} %`,
      share(b.otherCpuPercent), dash]))
  }
  const p = refs.pgbench
  if (p) {
    rows.push(row([`*ref:* pgbench, GET item's SQL (${p.statements} statement${p.statements === 1 ? '' : 's'}, ${p.clients} clients)`, `${rate(p.tps)} tps`,
      dash, dash, dash, int(p.failed), dash, dash, dash, dash, dash, dash, `avg latency ${ms(p.latencyMsAvg)} ms`]))
  }
  const q = refs.pgbenchItemOnly
  if (q) {
    rows.push(row([`*ref:* pgbench, the item SELECT alone`, `${rate(q.tps)} tps`,
      dash, dash, dash, int(q.failed), dash, dash, dash, dash, dash, dash, `avg latency ${ms(q.latencyMsAvg)} ms`]))
  }
  const c = refs.bcrypt
  if (c) {
    rows.push(row([`*ref:* bcrypt ceiling, cost ${c.rounds}, ${c.cores} cores`, `${rate(c.hashesPerSecond)} hashes/s`,
      dash, dash, dash, dash, dash, dash, dash, dash, dash, dash, `one hash ${ms(c.singleMs)} ms`]))
  }
  return rows
}

/** One line per scenario: median req/s (range) and p99 of each variant, and each median as a share of the direct one. */
function poolerRows(c: PoolerComparison): string[] {
  const header = ['scenario', ...POOLER_VARIANTS.flatMap((v) => [`${POOLER_VARIANT_TITLES[v]} req/s`, 'p99 ms']), 'unnamed / direct', 'PgBouncer / direct']
  const lines = [
    `${c.pgbouncer}, pool_mode = transaction, default_pool_size = 20. Each scenario on the three Keels in turn, ${c.rounds} round(s) in`
      + ' alternating order; req/s is the median run (lowest–highest in brackets), p99 that run\'s.', '', row(header),
    `|---|${POOLER_VARIANTS.map(() => '--:|--:|').join('')}--:|--:|`,
  ]
  for (const r of c.rows) {
    const direct = r.results.direct?.rps
    const ratio = (v: 'unnamed' | 'pgbouncer') => (direct && r.results[v] ? pct(r.results[v]!.rps / direct) : dash)
    const spread = (v: typeof POOLER_VARIANTS[number]) => {
      const runs = (r.runs[v] ?? []).map((x) => x.rps)
      return runs.length > 1 ? ` (${rate(Math.min(...runs))}–${rate(Math.max(...runs))})` : ''
    }
    lines.push(row([r.title, ...POOLER_VARIANTS.flatMap((v) => [`${rate(r.results[v]?.rps ?? NaN)}${spread(v)}`, ms(r.results[v]?.latencyMs.p99)]),
      ratio('unnamed'), ratio('pgbouncer')]))
  }
  return lines
}

/** The headline and the runs of a feature's cost (--metrics-cost, --tracing-cost); `setting` and `extra` say what is particular. */
function featureCostLines(name: string, variable: string, setting: string, c: FeatureCost, extra: string): string[] {
  const each = (results: LoadResult[]) => results.map((r) => `${rate(r.rps)} req/s (${cpu(r.serverCpuMsPerRequest)} ms CPU)`).join(', ')
  return [
    `**${name[0]!.toUpperCase()}${name.slice(1)} cost** (GET /api/v1/items/{id}, ${c.rounds} alternating round${c.rounds === 1 ? '' : 's'}, ${setting}):`
      + ` throughput ${pct(Math.abs(c.throughputCost))} ${c.throughputCost >= 0 ? 'lower' : 'higher'} with ${variable} set (median req/s),`
      + ` Keel CPU per request ${pct(Math.abs(c.cpuCost))} ${c.cpuCost >= 0 ? 'higher' : 'lower'} (median); ${extra}.`,
    '',
    `- ${name} off: ${each(c.off)}`,
    `- ${name} on: ${each(c.on)}`,
  ]
}

const tracingCostLines = (c: FeatureCost & { spansReceived: number }) =>
  featureCostLines('tracing', 'OTEL_EXPORTER_OTLP_ENDPOINT', 'OTLP/HTTP JSON to a stand-in collector in the bench process', c, `${int(c.spansReceived)} spans received`)

function metricsCostLines(c: MetricsCostReport): string[] {
  return [
    ...featureCostLines('metrics', 'METRICS_PORT', 'same database and settings', c, `${c.series} series in a scrape`),
    '',
    '<details><summary>Request and Keel series of that scrape (a cluster primary sums its workers)</summary>',
    '', '```', ...c.sample, '```', '', '</details>',
  ]
}

function eventsCostLines(c: EventWriteCost): string[] {
  const each = (results: LoadResult[]) => results.map((r) => `${rate(r.rps)} req/s (Keel ${cpu(r.serverCpuMsPerRequest)}, PG ${cpu(r.dbCpuMsPerRequest)} ms CPU)`).join(', ')
  const higher = (x: number) => `${pct(Math.abs(x))} ${x >= 0 ? 'higher' : 'lower'}`
  return [
    `**Event write cost** (POST /api/v1/items, ${c.rounds} alternating round${c.rounds === 1 ? '' : 's'} on one Keel, items' event trigger`
      + ` disabled vs enabled): POST with events / without = **${(1 - c.throughputCost).toFixed(3)}** (ratio of median req/s; median of`
      + ` the rounds' ratios ${c.pairedRatio.toFixed(3)}, each ${c.on.map((r, i) => (r.rps / c.off[i]!.rps).toFixed(3)).join(', ')});`
      + ` CPU per request: PostgreSQL ${higher(c.dbCpuCost)}, Keel ${higher(c.cpuCost)} (medians); ${int(c.eventsWritten)} events written.`,
    '',
    `- trigger off: ${each(c.off)}`,
    `- trigger on: ${each(c.on)}`,
    `- \`${c.trigger}\``,
  ]
}

const fanOutLines = (f: FanOutResult) => [
  `**Fan-out** (POST /api/v1/items with ${f.opened} SSE streams of the writer open, \`?types=items.created\`): **${int(f.deliveredPerSecond)} events/s**`
    + ` delivered across the streams (${int(f.delivered)} of ${int(f.expected)}: the run's ${int(f.runEvents)} events × ${f.opened} streams, in ${f.seconds.toFixed(1)} s) while ${int(f.writeRps)} writes/s`
    + ` were answered${f.endedEarly ? ` (${f.endedEarly} streams ended early as too slow to read)` : ''}; write to receipt on one stream p50 ${ms(f.latencyMs.p50)} ms, p99 ${ms(f.latencyMs.p99)} ms, max ${ms(f.latencyMs.max)} ms.`
    + ` Streams out of id order: ${f.outOfOrder}. Also received: ${int(f.earlier)} events written before the run (a new stream starts at its instance's position in the log, which trails its end by the delivery lag).`,
]

export function renderMarkdown(report: BenchReport): string {
  const { machine: m, settings: s, keel: k } = report
  const load = m.loadAverageBefore.map((l) => l.toFixed(2)).join(' / ')
  const processes = k.processes > 1 ? `${k.processes} Keel processes observed (primary + workers)` : '1 Keel process observed'
  const lines = [
    `## Keel benchmark, ${report.startedAt.replace('T', ' ').slice(0, 16)} UTC${s.smoke ? ' (smoke run: not a measurement)' : ''}`,
    '',
    `- machine: node ${m.node}, ${m.cpus} CPUs (${m.cpuModel}), ${int(m.memoryMb)} MB RAM; load average before start ${load} (1 / 5 / 15 min)`,
    `- engine: ${s.engine} (${report.database}); WORKERS=${s.workers} (${s.workersResolved}), ${processes}`,
    `- load: ${s.loadGenerator === 'wrk' ? 'wrk (one thread)' : 'autocannon'}, ${s.connections} connections, ${s.durationSeconds} s per scenario after a ${s.warmupSeconds} s warm-up; load generator, Keel and database on the same machine`,
    `- start-up to ready: ${int(k.startupMs)} ms (spawn → first \`/readyz\` 200, migrated database with the seed below)`,
    `- seed: ${report.seed.users} users; ${int(report.seed.smallOwnerItems)} and ${int(report.seed.bigOwnerItems)} items; commit ${report.commit}`,
    ...(s.nodeArgs.length ? [`- Keel node flags: ${s.nodeArgs.join(' ')}`] : []),
    '',
    ...(report.poolers ? poolerRows(report.poolers) : [
    row(['scenario', 'req/s', 'p50 ms', 'p95 ms', 'p99 ms', 'non-2xx', 'errors', 'Keel CPU ms/req', 'PG CPU ms/req', 'RSS MB', 'load gen CPU', 'other CPU', 'vs reference']),
    '|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|',
    ...report.scenarios.map((sc) => scenarioRow(sc, s.durationSeconds)),
    ...referenceRows(report.references)]),
    '',
  ]
  const rounds = report.scenarios.filter((sc) => sc.roundsRps)
  if (rounds.length) {
    lines.push(`Each scenario ran ${s.scenarioRounds} times in alternating order; the row is the median run. req/s of every run:`, '',
      ...rounds.map((sc) => `- ${sc.title}: ${sc.roundsRps!.map(rate).join(', ')}`), '')
  }
  if (report.metricsCost) lines.push(...metricsCostLines(report.metricsCost), '')
  if (report.tracingCost) lines.push(...tracingCostLines(report.tracingCost), '')
  if (report.replicaCost) {
    const setting = report.replicaServer
      ? `reads on the standbys behind ${report.replicaServer} (BENCH_REPLICA_URL), streaming from the primary`
      : 'the replica URL is the primary\'s again, so only the routing is measured'
    lines.push(...featureCostLines('replica routing', 'DATABASE_REPLICA_URL', setting,
      report.replicaCost, 'read-your-writes on, positions in process memory'), '')
  }
  if (report.eventsCost) lines.push(...eventsCostLines(report.eventsCost), '')
  if (report.fanOut) lines.push(...fanOutLines(report.fanOut), '')
  const skipped = Object.entries(report.references.skipped)
  if (skipped.length) lines.push(...skipped.map(([id, why]) => `- reference ${id} skipped: ${why}`), '')
  if (report.observations.length) lines.push('Observations:', '', ...report.observations.map((o) => `- ${o}`), '')
  if (report.problems.length) lines.push('Harness problems:', '', ...report.problems.map((p) => `- ${p}`), '')
  if (report.references.pgbench) {
    lines.push(`<details><summary>SQL Keel sent for ${report.capturedSql?.request ?? 'GET item'} (${report.references.pgbench.protocol}), replayed by pgbench -M prepared</summary>`,
      '', '```sql', report.references.pgbench.script.trim(), '```', '', '</details>', '')
  }
  return lines.join('\n')
}

/**
 * bench/results/<stamp>.json (git-ignored) and <stamp>.md; latest.md only for a complete full run, so a smoke or
 * partial run never replaces the table the README links.
 */
export function writeResults(dir: string, report: BenchReport, markdown: string): string[] {
  mkdirSync(dir, { recursive: true })
  if (report.settings.smoke) {
    const file = join(dir, 'smoke.json')
    writeFileSync(file, JSON.stringify(report, null, 2))
    return [file]
  }
  const stamp = report.startedAt.replace(/:/g, '-').replace(/\.\d+Z$/, 'Z')
  const files = [join(dir, `${stamp}.json`), join(dir, `${stamp}.md`)]
  writeFileSync(files[0]!, JSON.stringify(report, null, 2))
  writeFileSync(files[1]!, markdown)
  if (report.settings.only.length === 0 && report.problems.length === 0) {
    // A --through run is a different table: it has its own "latest" and never replaces the full run's.
    files.push(join(dir, report.settings.through ? `through-${report.settings.through}-latest.md` : 'latest.md'))
    writeFileSync(files[2]!, markdown)
  }
  return files
}
