import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import pg from 'pg'
import { createHaProxy, type HaProxy } from './haproxy.js'
import { createPgBouncer, type PgBouncer } from './pgbouncer.js'
import { busyPorts, waitForPort } from './ports.js'

export interface Instance {
  name: string
  port: number
  base: string
  start(): Promise<void>
  /** SIGTERM to the primary (as an orchestrator does); resolves with its exit code. */
  terminate(): Promise<number | null>
  /** SIGKILL to every process of the instance (primary and workers), as a crashed machine. */
  kill(): Promise<void>
  output(): string
}

export interface Stack {
  upstream: string
  direct: string
  pgbouncer: PgBouncer
  haproxy: HaProxy
  instances: Instance[]
  superuser: { email: string; password: string }
  limits: { perMinute: number; loginPerMinute: number }
  sql<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>
  /** Resolves once HAProxy has every instance UP. */
  allUp(timeoutMs?: number): Promise<void>
  stop(): Promise<void>
}

export interface StackOptions {
  upstream: string
  /** First of the ports this run may use (it takes ten from here). */
  basePort: number
  workers: number
}

/**
 * PgBouncer (transaction pooling) in front of the PostgreSQL server, a Redis of its own, N Keel instances
 * (NODE_ENV=production, WORKERS each) through PgBouncer with LISTEN on a direct connection, HAProxy in front.
 * Everything runs on a fresh database that `stop()` drops.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const busy = await busyPorts(options.basePort, options.basePort + 5)
  if (busy.length) throw new Error(`ports ${busy.join(', ')} are in use: set SCALE_PORT to the first of six free ones`)
  const name = `keel_scale_${randomBytes(5).toString('hex')}`
  const admin = new URL(options.upstream)
  admin.pathname = '/postgres'
  await query(admin.toString(), `CREATE DATABASE ${name}`)
  const direct = new URL(options.upstream)
  direct.pathname = `/${name}`
  const p = options.basePort
  const pgbouncer = createPgBouncer({ port: p, upstream: options.upstream, poolMode: 'transaction', poolSize: 20 })
  const redis = spawn('redis-server', ['--port', String(p + 1), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const superuser = { email: 'root@scale.example', password: 'scale superuser password' }
  const limits = { perMinute: 300, loginPerMinute: 10 }
  const env = {
    NODE_ENV: 'production', SECRET_KEY: randomBytes(48).toString('base64url'), BCRYPT_ROUNDS: '10', LOG_LEVEL: 'warn',
    DATABASE_URL: pgbouncer.url(name), DATABASE_POOLER: 'transaction', DATABASE_LISTEN_URL: direct.toString(),
    REDIS_URL: `redis://127.0.0.1:${p + 1}`, WORKERS: String(options.workers), TRUST_PROXY: '127.0.0.1',
    RATE_LIMIT_PER_MINUTE: String(limits.perMinute), LOGIN_RATE_LIMIT_PER_MINUTE: String(limits.loginPerMinute),
    FIRST_SUPERUSER_EMAIL: superuser.email, FIRST_SUPERUSER_PASSWORD: superuser.password,
    // Longer than HAProxy needs to see /readyz fail (CHECK: 2 × 500 ms), so no new request reaches a closing server.
    SHUTDOWN_DRAIN_SECONDS: '3', SMTP_URL: 'log:', APP_URL: 'http://127.0.0.1',
  }
  const instances = ['keel1', 'keel2', 'keel3'].map((n, i) => createInstance(n, p + 3 + i, env))
  const haproxy = createHaProxy(p + 2, instances)
  const pool = new pg.Pool({ connectionString: direct.toString(), max: 2 })

  const stack: Stack = {
    upstream: options.upstream, direct: direct.toString(), pgbouncer, haproxy, instances, superuser, limits,
    sql: async <T>(text: string, values?: unknown[]) => (await pool.query(text, values)).rows as T[],
    async allUp(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        const states = await haproxy.states()
        if (instances.every((i) => states.get(i.name) === 'UP')) return
        await new Promise((r) => setTimeout(r, 100))
      }
      throw new Error(`HAProxy does not see every instance UP: ${JSON.stringify([...(await haproxy.states())])}`)
    },
    async stop() {
      await haproxy.stop().catch(() => undefined)
      await Promise.all(instances.map((i) => i.kill().catch(() => undefined)))
      await pool.end().catch(() => undefined)
      await pgbouncer.stop().catch(() => undefined)
      redis.kill('SIGTERM')
      await query(admin.toString(), `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined)
    },
  }
  try {
    await Promise.all([pgbouncer.start(), waitForPort(p + 1, () => redis.exitCode !== null)])
    if (redis.exitCode !== null) throw new Error(`redis-server could not listen on port ${p + 1}`)
    // Two instances migrating and creating the first superuser at once, through the pooler, after a first one
    // (the vitest file test/pgbouncer.test.ts races three; here all three at once starved a shared 2-core machine).
    await instances[0]!.start()
    await Promise.all(instances.slice(1).map((i) => i.start()))
    await haproxy.start()
    await stack.allUp()
  } catch (err) {
    for (const i of instances) if (i.output()) console.error(`--- ${i.name}\n${i.output().slice(-2000)}`)
    await stack.stop()
    throw err
  }
  return stack
}

function createInstance(name: string, port: number, env: Record<string, string>): Instance {
  let child: ChildProcess | undefined
  let log = ''
  const base = `http://127.0.0.1:${port}`
  return {
    name, port, base,
    async start() {
      // Its own process group, so kill() reaches the workers too.
      // The bundle (run.ts builds it first): a restart costs a fraction of loading the sources through tsx.
      const started = spawn(process.execPath, ['dist/server.js'], {
        env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
      })
      child = started
      started.stdout!.on('data', (d) => { log += d })
      started.stderr!.on('data', (d) => { log += d })
      for (let i = 0; i < 600; i++) {
        if (started.exitCode !== null) throw new Error(`${name} exited with ${started.exitCode}: ${log.slice(-1000)}`)
        const ready = await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false)
        if (ready) return
        await new Promise((r) => setTimeout(r, 100))
      }
      throw new Error(`${name} did not become ready in 60 s`)
    },
    async terminate() {
      const running = child!
      const exited = once(running, 'exit').then(([code]) => code as number | null)
      running.kill('SIGTERM')
      return exited
    },
    async kill() {
      const running = child
      if (!running || running.exitCode !== null || running.signalCode !== null) return
      const exited = once(running, 'exit')
      process.kill(-running.pid!, 'SIGKILL')
      await exited
    },
    output: () => log,
  }
}

async function query(url: string, text: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(text)
  } finally {
    await client.end()
  }
}
