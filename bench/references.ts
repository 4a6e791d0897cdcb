import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { CapturedStatement } from './capture-sql.js'
import { measure, type LoadResult, type LoadSettings } from './load.js'
import { freePort, HOST } from './server-process.js'

/** Runs a bench/*.ts file in a child node with tsx, from the repository root. */
const tsxArgs = (file: string, ...args: string[]) => ['--import', 'tsx', join('bench', file), ...args]

/** A bare node:http server (bench/bare-server.ts) under the same load settings as Keel's /healthz. */
export async function measureBareHttp(root: string, processes: number, settings: Omit<LoadSettings, 'baseUrl' | 'serverPid'>): Promise<LoadResult> {
  const port = await freePort()
  const child = spawn(process.execPath, tsxArgs('bare-server.ts', String(port), String(processes)), { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] })
  try {
    let output = ''
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
    const deadline = performance.now() + 15_000
    while (!output.includes('ready')) {
      if (child.exitCode !== null || performance.now() > deadline) throw new Error(`bare node:http server did not start (exit code ${child.exitCode})`)
      await sleep(20)
    }
    return await measure({ ...settings, baseUrl: `http://${HOST}:${port}`, serverPid: child.pid!, measureDb: false }, { method: 'GET', path: '/' })
  } finally {
    child.kill('SIGTERM')
    if (child.exitCode === null) await Promise.race([once(child, 'exit'), sleep(5_000, undefined, { ref: false })])
  }
}

export interface BcryptCeiling {
  rounds: number
  poolSize: number
  singleMs: number
  hashesPerSecond: number
}

/**
 * bcrypt comparisons per second on all cores, in a child whose libuv pool has at least one thread per core and as
 * many as Keel hashed with (`keelThreads`): on a machine shared with other work, more threads get a bigger share of
 * the CPU, so a smaller pool would understate the ceiling.
 */
export function measureBcryptCeiling(root: string, rounds: number, seconds: number, keelThreads: number): BcryptCeiling {
  const poolSize = String(Math.max(availableParallelism(), keelThreads))
  const result = spawnSync(process.execPath, tsxArgs('bcrypt-ceiling.ts', String(rounds), String(seconds)), {
    cwd: root, encoding: 'utf8', timeout: seconds * 1000 + 30_000, env: { ...process.env, UV_THREADPOOL_SIZE: poolSize },
  })
  if (result.status !== 0) throw new Error(`bcrypt ceiling failed: ${result.stderr || result.error?.message}`)
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!) as BcryptCeiling
}

/** pgbench from PGBENCH, the PostgreSQL installation, or PATH. */
export function findPgbench(): string | undefined {
  if (process.env.PGBENCH) return process.env.PGBENCH
  const base = '/usr/lib/postgresql'
  if (existsSync(base)) {
    for (const version of readdirSync(base).sort((a, b) => Number(b) - Number(a))) {
      const candidate = join(base, version, 'bin', 'pgbench')
      if (existsSync(candidate)) return candidate
    }
  }
  return spawnSync('pgbench', ['--version']).status === 0 ? 'pgbench' : undefined
}

/** A value as node-postgres sends it (text, type left to the server), written as an SQL literal. */
function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL'
  const text = value instanceof Date ? value.toISOString() : typeof value === 'object' ? JSON.stringify(value) : String(value)
  // pgbench reads `:name` as a variable even inside quotes (a timestamp's `:38` included), so a colon is escaped.
  if (!text.includes(':')) return `'${text.replace(/'/g, "''")}'`
  return `E'${text.replace(/\\/g, '\\\\').replace(/'/g, "''").replace(/:/g, '\\x3a')}'`
}

/**
 * A pgbench script replaying `statements` with their parameters inlined, one transaction per request.
 * `variables` maps a parameter value to a pgbench variable set by `preamble` (e.g. a random item id).
 */
export function pgbenchScript(statements: CapturedStatement[], variables: Map<string, string> = new Map(), preamble: string[] = []): string {
  const lines = statements.map((s) => {
    const sqlText = s.text.replace(/\$(\d+)/g, (_m, n: string) => {
      const value = s.values[Number(n) - 1]
      return variables.get(String(value)) ?? literal(value)
    })
    return `${sqlText.replace(/\s*\n\s*/g, ' ').replace(/;\s*$/, '')};`
  })
  return [...preamble, ...lines].join('\n') + '\n'
}

export interface PgbenchResult {
  tps: number
  latencyMsAvg: number
  failed: number
  clients: number
  script: string
}

/**
 * pgbench in prepared mode (parse once, then bind/execute): what PostgreSQL itself can do for these statements on
 * this machine, the ceiling for a Keel request that needs them.
 */
export function runPgbench(pgbench: string, url: string, script: string, options: { clients: number; seconds: number }): PgbenchResult {
  const dir = mkdtempSync(join(tmpdir(), 'keel-pgbench-'))
  try {
    const file = join(dir, 'script.sql')
    writeFileSync(file, script)
    const threads = Math.min(options.clients, availableParallelism())
    const args = ['-n', '-M', 'prepared', '-c', String(options.clients), '-j', String(threads), '-T', String(options.seconds), '-f', file, url]
    const result = spawnSync(pgbench, args, { encoding: 'utf8', timeout: options.seconds * 1000 + 30_000 })
    const out = `${result.stdout}${result.stderr}`
    const tps = /tps = ([\d.]+)/.exec(out)
    if (result.status !== 0 || !tps) throw new Error(`pgbench failed (exit ${result.status}):\n${out.slice(-2000)}`)
    return {
      tps: Number(tps[1]),
      latencyMsAvg: Number(/latency average = ([\d.]+) ms/.exec(out)?.[1] ?? NaN),
      failed: Number(/number of failed transactions: (\d+)/.exec(out)?.[1] ?? 0),
      clients: options.clients,
      script,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
