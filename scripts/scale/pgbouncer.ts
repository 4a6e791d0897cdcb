import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { accessSync, chmodSync, constants, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitForPort } from './ports.js'

/** Where Debian puts it (`/usr/sbin` is not on every user's PATH); undefined when PgBouncer is not installed. */
export function findPgBouncer(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/sbin', '/usr/local/sbin']
  for (const dir of dirs.filter(Boolean)) {
    try {
      accessSync(join(dir, 'pgbouncer'), constants.X_OK)
      return join(dir, 'pgbouncer')
    } catch { /* not here */ }
  }
  return undefined
}

export interface PgBouncerOptions {
  port: number
  /** The PostgreSQL server behind it, e.g. postgres://postgres@127.0.0.1:5432/ (user and host are used). */
  upstream: string
  poolMode?: 'session' | 'transaction'
  /** Server connections per database and user. */
  poolSize?: number
}

export interface PgBouncer {
  port: number
  /** `upstream` with PgBouncer's host and port instead, for database `name`. */
  url(name: string): string
  start(): Promise<void>
  /** Immediate shutdown (SIGTERM in PgBouncer 1.18): every client connection is cut. */
  stop(): Promise<void>
  output(): string
}

/**
 * A PgBouncer of our own (not the system service) with a throwaway config: trust authentication (the upstream
 * decides), every database forwarded to the upstream server. Run as root it must drop to a normal user.
 */
export function createPgBouncer(options: PgBouncerOptions): PgBouncer {
  const binary = findPgBouncer()
  if (!binary) throw new Error('pgbouncer is not installed (Debian: apt-get install -y pgbouncer)')
  const upstream = new URL(options.upstream)
  const user = decodeURIComponent(upstream.username || 'postgres')
  const dir = mkdtempSync(join(tmpdir(), 'keel-pgbouncer-'))
  chmodSync(dir, 0o755)
  const ini = join(dir, 'pgbouncer.ini')
  writeFileSync(join(dir, 'userlist.txt'), `"${user}" ""\n`, { mode: 0o644 })
  writeFileSync(ini, [
    '[databases]',
    `* = host=${upstream.hostname} port=${upstream.port || 5432}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${options.port}`,
    'unix_socket_dir =',
    'auth_type = trust',
    `auth_file = ${join(dir, 'userlist.txt')}`,
    `pool_mode = ${options.poolMode ?? 'transaction'}`,
    `default_pool_size = ${options.poolSize ?? 20}`,
    'max_client_conn = 2000',
    'max_db_connections = 0',
    // Without it a client waiting for a server connection waits forever (the default 120 s is as good as forever).
    'query_wait_timeout = 10',
    '',
  ].join('\n'), { mode: 0o644 })

  let child: ChildProcess | undefined
  let log = ''
  const asRoot = process.getuid?.() === 0 ? ['-u', process.env.PGBOUNCER_USER ?? 'postgres'] : []
  return {
    port: options.port,
    url(name) {
      const url = new URL(options.upstream)
      url.host = `127.0.0.1:${options.port}`
      url.pathname = `/${name}`
      return url.toString()
    },
    async start() {
      const started = spawn(binary, [...asRoot, ini], { stdio: ['ignore', 'pipe', 'pipe'] })
      child = started
      started.stdout!.on('data', (d) => { log += d })
      started.stderr!.on('data', (d) => { log += d })
      await waitForPort(options.port, () => started.exitCode !== null)
        .catch((err: Error) => { throw new Error(`${err.message}; pgbouncer said: ${log.trim().split('\n').slice(-3).join(' | ')}`) })
    },
    async stop() {
      const running = child
      child = undefined
      if (!running || running.exitCode !== null || running.signalCode !== null) return
      running.kill('SIGTERM')
      await once(running, 'exit')
    },
    output: () => log,
  }
}
