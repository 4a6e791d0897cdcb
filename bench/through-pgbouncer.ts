import { execFileSync } from 'node:child_process'
import { createPgBouncer, findPgBouncer } from '../scripts/scale/pgbouncer.js'
import { freePortIn } from '../scripts/scale/ports.js'
import type { BenchDatabase } from './database.js'
import { measure, type LoadResult, type LoadSettings } from './load.js'
import type { BenchOptions } from './options.js'
import type { BenchReport } from './report.js'
import { buildScenarios, type Scenario, type Sessions } from './scenarios.js'
import type { SeedResult } from './seed.js'
import { startKeel, type KeelProcess } from './server-process.js'

/** The three ways to reach PostgreSQL compared side by side; `direct` is the Keel the bench already started. */
export const POOLER_VARIANTS = ['direct', 'unnamed', 'pgbouncer'] as const
export type PoolerVariant = typeof POOLER_VARIANTS[number]

export const POOLER_VARIANT_TITLES: Record<PoolerVariant, string> = {
  direct: 'direct, named statements',
  unnamed: 'direct, DATABASE_POOLER=transaction',
  pgbouncer: 'through PgBouncer (transaction)',
}

export interface PoolerComparison {
  pgbouncer: string
  rounds: number
  rows: {
    id: string
    title: string
    /** The median run of each variant, by req/s. */
    results: Partial<Record<PoolerVariant, LoadResult>>
    runs: Partial<Record<PoolerVariant, LoadResult[]>>
    errors: string[]
  }[]
}

const median = (runs: LoadResult[]) => [...runs].sort((a, b) => a.rps - b.rps)[Math.floor((runs.length - 1) / 2)]

async function measureVariant(input: CompareInput, keel: KeelProcess, variant: PoolerVariant, scenario: Scenario, row: PoolerComparison['rows'][number]) {
  const { options, report, log } = input
  log(`▶ ${scenario.title}: ${POOLER_VARIANT_TITLES[variant]}`)
  const settings: LoadSettings = {
    baseUrl: keel.baseUrl, connections: options.connections, durationSeconds: options.durationSeconds,
    warmupSeconds: options.warmupSeconds, serverPid: keel.pid, measureDb: true, wrk: options.wrk,
  }
  try {
    const r = await measure(settings, scenario.load)
    report.keel.processes = Math.max(report.keel.processes, r.serverProcesses)
    log(`  ${Math.round(r.rps)} req/s, p99 ${r.latencyMs.p99.toFixed(1)} ms, ${r.non2xx} non-2xx, ${r.errors} errors`)
    if (r.non2xx + r.errors > 0) report.observations.push(`${scenario.title} ${variant}: ${r.non2xx} non-2xx, ${r.errors} errors ${JSON.stringify(r.statusCodes)}`)
    return r
  } catch (err) {
    row.errors.push(`${variant}: ${(err as Error).message}`)
    report.problems.push(`${scenario.title} ${variant}: ${(err as Error).message}`)
    return undefined
  }
}

const DEFAULT_SCENARIOS = ['item-get', 'items-list', 'item-create']

export interface CompareInput {
  root: string
  options: BenchOptions
  target: BenchDatabase
  env: Record<string, string>
  seeded: SeedResult
  sessions: Sessions
  direct: KeelProcess
  report: BenchReport
  log(message: string): void
}

/**
 * `--through pgbouncer`: each scenario on three Keels of the same build and database, one after another, so the
 * figures share the machine's state: the direct one (named prepared statements), a direct one with
 * DATABASE_POOLER=transaction (what dropping statement names costs, alone), and one through PgBouncer in
 * transaction mode (that plus the extra hop). Tokens are shared: same SECRET_KEY, same users.
 */
export async function comparePoolers(input: CompareInput): Promise<PoolerComparison> {
  const { root, options, target, env, seeded, sessions, direct, log } = input
  if (!target.url) throw new Error('--through pgbouncer needs PostgreSQL (--engine postgres)')
  const binary = findPgBouncer()
  if (!binary) throw new Error('--through pgbouncer: pgbouncer is not installed (apt-get install -y pgbouncer)')
  const bouncer = createPgBouncer({ port: await freePortIn(18300, 18399), upstream: options.adminUrl, poolMode: 'transaction', poolSize: 20 })
  await bouncer.start()
  const keels: Partial<Record<PoolerVariant, KeelProcess>> = { direct }
  const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim()
  const comparison: PoolerComparison = { pgbouncer: version, rounds: options.rounds, rows: [] }
  try {
    const name = new URL(target.url).pathname.slice(1)
    log('▶ starting Keel with DATABASE_POOLER=transaction, direct and through PgBouncer')
    keels.unnamed = await startKeel(root, { ...env, PORT: String(await freePortIn(18300, 18399)), DATABASE_POOLER: 'transaction' }, options.nodeArgs)
    keels.pgbouncer = await startKeel(root, {
      ...env, PORT: String(await freePortIn(18300, 18399)), DATABASE_URL: bouncer.url(name), DATABASE_POOLER: 'transaction', DATABASE_LISTEN_URL: target.url,
    }, options.nodeArgs)
    const wanted = options.only.length ? options.only : DEFAULT_SCENARIOS
    for (const scenario of buildScenarios(seeded, sessions, options.bcryptRounds).filter((s) => wanted.includes(s.id))) {
      const row: PoolerComparison['rows'][number] = { id: scenario.id, title: scenario.title, results: {}, runs: {}, errors: [] }
      // Rounds in alternating order (A B C, C B A, …): a machine that gets busier or quieter favours no variant.
      for (let round = 0; round < options.rounds; round++) {
        for (const variant of round % 2 ? [...POOLER_VARIANTS].reverse() : POOLER_VARIANTS) {
          const r = await measureVariant(input, keels[variant]!, variant, scenario, row)
          if (r) (row.runs[variant] ??= []).push(r)
        }
      }
      for (const variant of POOLER_VARIANTS) row.results[variant] = median(row.runs[variant] ?? [])
      comparison.rows.push(row)
    }
  } finally {
    await keels.unnamed?.stop()
    await keels.pgbouncer?.stop()
    await bouncer.stop()
  }
  return comparison
}
