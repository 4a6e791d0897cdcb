import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { findWrk } from './wrk.js'

export type Engine = 'postgres' | 'pglite'

export interface BenchOptions {
  engine: Engine
  /** What WORKERS is set to for Keel: `auto` or a count (forced to 1 on PGlite: one process per data directory). */
  workers: string
  durationSeconds: number
  warmupSeconds: number
  connections: number
  /** Items of the big owner (the list scenarios); the small owner always has a tenth of it. */
  items: number
  smoke: boolean
  skipBuild: boolean
  /** Scenario ids to run (all when empty); references run with the scenario they are compared to. */
  only: string[]
  /** Extra node flags for Keel, e.g. `--cpu-prof`; cluster workers inherit them. */
  nodeArgs: string[]
  adminUrl: string
  bcryptRounds: number
  /** The load generator: wrk when installed (C, a fraction of a core), else autocannon in the bench process. */
  loadGenerator: 'wrk' | 'autocannon'
  /** wrk's path when it is the load generator. */
  wrk: string | undefined
  /** `pgbouncer`: compare item GET, list and POST direct and through PgBouncer (transaction) instead of the full run. */
  through: 'pgbouncer' | undefined
  /** With --through: measured runs per scenario and variant (the median is reported). */
  rounds: number
  /** Without --through: measured runs per scenario, in alternating order (the median is reported). */
  scenarioRounds: number
  /** Rounds of item GET on a second Keel with METRICS_PORT set vs this one (0: not measured). */
  metricsCostRounds: number
  /** Rounds of item GET with OTEL_EXPORTER_OTLP_ENDPOINT set vs not (0: not measured). */
  tracingCostRounds: number
  /** Rounds of item GET with DATABASE_REPLICA_URL set (to the same server) vs not (0: not measured). */
  replicaCostRounds: number
  /** Rounds of item POST with items' event trigger disabled vs enabled (0: not measured). */
  eventsCostRounds: number
  /** SSE streams open during the fan-out run (0: not measured). */
  fanOutStreams: number
}

const USAGE = `Usage: npm run bench -- [options]
  --engine postgres|pglite   database engine (default postgres, on BENCH_DATABASE_URL)
  --workers auto|N           WORKERS for Keel (default auto; always 1 on pglite)
  --duration S               seconds per scenario (default 15; --smoke: 2)
  --connections N            concurrent connections (default 32)
  --items N                  items of the big owner (default 10000; --smoke: 1000)
  --only a,b                 only these scenarios (ids in docs/benchmark.md)
  --node-arg FLAG            pass a flag to Keel's node, repeatable (e.g. --node-arg=--cpu-prof)
  --skip-build               use the existing dist/ instead of building it
  --load-gen wrk|autocannon  load generator (default wrk when installed, else autocannon)
  --through pgbouncer        item GET, list and POST direct, with DATABASE_POOLER=transaction, and through PgBouncer
                             in transaction mode, interleaved in one run (instead of the full scenario list)
  --rounds N                 runs per scenario (and per variant with --through), alternating order, median
                             reported (default 1; with --through 3; --smoke: 1)
  --metrics-cost             also item GET with metrics on vs off, alternating rounds (the smoke run always does one)
  --metrics-rounds N         rounds of --metrics-cost (default 3; --smoke: 1)
  --tracing-cost             also item GET with tracing on (OTLP to a stand-in collector) vs off, alternating rounds
  --tracing-rounds N         rounds of --tracing-cost (default 3)
  --replica-cost             also item GET with DATABASE_REPLICA_URL (BENCH_REPLICA_URL's server, else the same server
                             again: the routing's own cost)
                             vs without, alternating rounds
  --replica-rounds N         rounds of --replica-cost (default 3)
  --events-cost              item POST with the event trigger disabled vs enabled on one Keel, alternating rounds
                             (on by default; with --only only when asked)
  --events-rounds N          rounds of --events-cost (default 3; --smoke: 1)
  --fanout                   item POST while N SSE streams of the writer are open: events delivered per second
                             (on in a full run; with --only or --smoke only when asked)
  --fanout-streams N         streams open during --fanout (default 100)
  --smoke                    ~2 s per scenario and a small seed: checks the harness, not the speed`

/** A bad command line: printed as one message, without a stack. */
export class UsageError extends Error {}

const DEFAULT_ADMIN_URL = 'postgres://postgres@127.0.0.1:5432/postgres'

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer (got ${value})\n${USAGE}`)
  return n
}

const OPTIONS = {
  engine: { type: 'string', default: 'postgres' },
  workers: { type: 'string', default: 'auto' },
  duration: { type: 'string' },
  connections: { type: 'string' },
  items: { type: 'string' },
  only: { type: 'string' },
  'node-arg': { type: 'string', multiple: true },
  'skip-build': { type: 'boolean', default: false },
  'load-gen': { type: 'string' },
  through: { type: 'string' },
  rounds: { type: 'string' },
  smoke: { type: 'boolean', default: false },
  'metrics-cost': { type: 'boolean', default: false },
  'metrics-rounds': { type: 'string' },
  'tracing-cost': { type: 'boolean', default: false },
  'tracing-rounds': { type: 'string' },
  'replica-cost': { type: 'boolean', default: false },
  'replica-rounds': { type: 'string' },
  'events-cost': { type: 'boolean', default: false },
  'events-rounds': { type: 'string' },
  fanout: { type: 'boolean', default: false },
  'fanout-streams': { type: 'string' },
  help: { type: 'boolean', default: false },
} as const

function parse(args: string[]) {
  try {
    return parseArgs({ args, options: OPTIONS, strict: true })
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${USAGE}`)
  }
}

export function parseOptions(argv: string[] = process.argv.slice(2)): BenchOptions {
  const { values } = parse(argv)
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  if (values.engine !== 'postgres' && values.engine !== 'pglite') throw new UsageError(`--engine must be postgres or pglite\n${USAGE}`)
  if (values.workers !== 'auto' && !/^[1-9]\d*$/.test(values.workers)) throw new UsageError(`--workers must be auto or a positive integer\n${USAGE}`)
  const smoke = values.smoke
  const loadGen = values['load-gen']
  if (loadGen !== undefined && loadGen !== 'wrk' && loadGen !== 'autocannon') throw new UsageError(`--load-gen must be wrk or autocannon\n${USAGE}`)
  const wrk = loadGen === 'autocannon' ? undefined : findWrk()
  if (loadGen === 'wrk' && !wrk) throw new UsageError('--load-gen wrk: wrk is not installed (apt-get install wrk, or set WRK)')
  if (values.through !== undefined && values.through !== 'pgbouncer') throw new UsageError(`--through must be pgbouncer\n${USAGE}`)
  if (values.through && values.engine !== 'postgres') throw new UsageError(`--through pgbouncer needs --engine postgres\n${USAGE}`)
  const durationSeconds = positiveInt('duration', values.duration, smoke ? 2 : 15)
  return {
    engine: values.engine,
    workers: values.engine === 'pglite' ? '1' : values.workers,
    durationSeconds,
    // Long enough for the JIT and the connection pools to settle, short next to the measured run.
    warmupSeconds: smoke ? 0.5 : Math.min(3, Math.max(1, durationSeconds / 5)),
    connections: positiveInt('connections', values.connections, 32),
    items: positiveInt('items', values.items, smoke ? 1_000 : 10_000),
    smoke,
    skipBuild: values['skip-build'],
    only: values.only ? values.only.split(',').map((s) => s.trim()).filter(Boolean) : [],
    nodeArgs: values['node-arg'] ?? [],
    adminUrl: process.env.BENCH_DATABASE_URL || DEFAULT_ADMIN_URL,
    bcryptRounds: 10,
    loadGenerator: wrk ? 'wrk' : 'autocannon',
    wrk,
    through: values.through,
    rounds: positiveInt('rounds', values.rounds, smoke ? 1 : 3),
    scenarioRounds: values.through ? 1 : positiveInt('rounds', values.rounds, 1),
    // The smoke run exercises this path too (one round), so CI notices when it breaks.
    metricsCostRounds: values['metrics-cost'] || smoke ? positiveInt('metrics-rounds', values['metrics-rounds'], smoke ? 1 : 3) : 0,
    tracingCostRounds: values['tracing-cost'] ? positiveInt('tracing-rounds', values['tracing-rounds'], 3) : 0,
    replicaCostRounds: values['replica-cost'] ? positiveInt('replica-rounds', values['replica-rounds'], 3) : 0,
    // Part of every full and smoke run (issue 22: the event write's price on POST and the fan-out rate); an --only
    // run is about something else unless it asks.
    eventsCostRounds: values['events-cost'] || !values.only ? positiveInt('events-rounds', values['events-rounds'], smoke ? 1 : 3) : 0,
    // Not in the smoke run (CI) unless asked: its stream counts are not explained yet (docs/benchmark.md).
    fanOutStreams: values.fanout || (!values.only && !smoke) ? positiveInt('fanout-streams', values['fanout-streams'], 100) : 0,
  }
}

/** What `--workers auto` means here, for the report. */
export function resolveWorkers(workers: string): number {
  return workers === 'auto' ? availableParallelism() : Number(workers)
}
