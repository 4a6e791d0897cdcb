import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { processTree } from './proc-stats.js'

export const HOST = '127.0.0.1'
const READY_TIMEOUT_MS = 30_000
const STOP_TIMEOUT_MS = 10_000

/** Builds dist/ once with `npm run build` (the bundle production runs), so no tsx is in the measured process. */
export function buildKeel(root: string): void {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build.ts'], { cwd: root, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`build failed (npm run build):\n${result.stdout}${result.stderr}`)
}

/** A port nobody listens on right now (the kernel picks it; the short race until Keel binds it is acceptable here). */
export async function freePort(): Promise<number> {
  const server = createServer()
  server.listen(0, HOST)
  await once(server, 'listening')
  const address = server.address()
  server.close()
  if (!address || typeof address === 'string') throw new Error('could not get a free port')
  return address.port
}

export interface KeelEnvInput {
  port: number
  databaseUrl: string | undefined
  dataDir: string
  workers: string
  bcryptRounds: number
}

/**
 * Every Keel variable is set explicitly (empty = unset), so a developer's `.env` or shell cannot change what is measured.
 * Limits are far above what the bench sends: they are still evaluated on every request, they just never trip.
 */
export function keelEnv(input: KeelEnvInput): Record<string, string> {
  return {
    NODE_ENV: 'production',
    HOST,
    PORT: String(input.port),
    DATABASE_URL: input.databaseUrl ?? '',
    DATABASE_POOLER: '',
    DATABASE_LISTEN_URL: '',
    DATA_DIR: input.dataDir,
    MIGRATE_ON_START: 'true',
    SECRET_KEY: randomBytes(36).toString('base64'), // 48 bytes
    BCRYPT_ROUNDS: String(input.bcryptRounds),
    RATE_LIMIT_PER_MINUTE: '1000000000',
    LOGIN_RATE_LIMIT_PER_MINUTE: '1000000000',
    LOG_LEVEL: 'warn',
    WORKERS: input.workers,
    CORS_ORIGINS: '',
    REDIS_URL: '',
    FIRST_SUPERUSER_EMAIL: '',
    FIRST_SUPERUSER_PASSWORD: '',
    TRUST_PROXY: '',
    // Metrics off unless a scenario turns them on (bench/feature-cost.ts); shedding at its defaults.
    METRICS_PORT: '',
    METRICS_HOST: '',
    SHED_MAX_EVENT_LOOP_DELAY_MS: '1000',
    SHED_MAX_HEAP_USED_MB: '0',
    SHED_MAX_RSS_MB: '0',
    SHED_RETRY_AFTER_SECONDS: '5',
    // Production refuses to start without a mail decision; the bench sends none (log only).
    SMTP_URL: 'log:',
    APP_URL: '',
    REQUIRE_EMAIL_VERIFICATION: 'false',
  }
}

export interface KeelProcess {
  pid: number
  baseUrl: string
  startupMs: number
  /** Lines Keel logged at warn level or above (LOG_LEVEL=warn), plus anything not JSON. */
  logLines(): string[]
  /** SIGTERM, wait for the drain; SIGKILL the whole tree if it hangs. Returns the exit code (null when killed). */
  stop(): Promise<number | null>
}

/** Keeps the last lines a child printed, so a failure can show them without holding a long run's output. */
function collectLines(child: ChildProcess, max = 500): () => string[] {
  const lines: string[] = []
  let partial = ''
  const onData = (chunk: Buffer) => {
    const parts = (partial + chunk.toString('utf8')).split('\n')
    partial = parts.pop() ?? ''
    for (const line of parts) if (line.trim()) lines.push(line)
    if (lines.length > max) lines.splice(0, lines.length - max)
  }
  child.stdout?.on('data', onData)
  child.stderr?.on('data', onData)
  return () => (partial.trim() ? [...lines, partial] : [...lines])
}

/** Spawns `node dist/server.js` and measures spawn → first `/readyz` 200. */
export async function startKeel(root: string, env: Record<string, string>, nodeArgs: string[]): Promise<KeelProcess> {
  const baseUrl = `http://${HOST}:${env.PORT}`
  const started = performance.now()
  const child = spawn(process.execPath, [...nodeArgs, 'dist/server.js'], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logLines = collectLines(child)
  let exitCode: number | null | undefined
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => {
    exitCode = code
    resolve(code)
  }))

  const fail = (why: string) => {
    child.kill('SIGKILL')
    return new Error(`Keel did not start: ${why}\n${logLines().slice(-30).join('\n')}`)
  }
  for (;;) {
    if (exitCode !== undefined) throw fail(`exited with code ${exitCode}`)
    if (performance.now() - started > READY_TIMEOUT_MS) throw fail(`no /readyz 200 within ${READY_TIMEOUT_MS / 1000} s`)
    const ready = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(1_000) }).then((r) => r.status === 200, () => false)
    if (ready) break
    await sleep(5)
  }
  const startupMs = performance.now() - started

  const pid = child.pid!
  return {
    pid,
    baseUrl,
    startupMs,
    logLines,
    async stop() {
      if (exitCode !== undefined) return exitCode
      const tree = processTree(pid).map((s) => s.pid)
      child.kill('SIGTERM')
      // ref: false so a clean stop does not keep the harness alive until the timer fires.
      const timer = sleep(STOP_TIMEOUT_MS, undefined, { ref: false }).then(() => 'timeout' as const)
      if ((await Promise.race([exited, timer])) === 'timeout') {
        for (const p of tree) {
          try {
            process.kill(p, 'SIGKILL')
          } catch {
            // already gone
          }
        }
        await exited
        return null
      }
      return exitCode ?? null
    },
  }
}
