import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { waitForPort } from './ports.js'

/** Health-check cadence: a server is out after FALL failed checks INTERVAL_MS apart, back after RISE good ones. */
export const CHECK = { intervalMs: 500, fall: 2, rise: 2 }

export interface HaProxy {
  base: string
  start(): Promise<void>
  stop(): Promise<void>
  /** HAProxy's own log: one line per request (httplog) with its termination state. */
  output(): string
  /** Each server's state as HAProxy sees it now (`UP`, `DOWN`, `UP 1/2`…), by server name. */
  states(): Promise<Map<string, string>>
  /** `show stat` fields of one server: error and abort counters (eresp, srv_abrt, cli_abrt, wretr, wredis…). */
  counters(server: string): Promise<Record<string, string>>
}

/**
 * HAProxy in front of the Keel instances, set up as docs/deploy.md recommends: round robin, `/readyz` health
 * checks, connection failures retried elsewhere (safe: nothing was sent), and a 503 with Retry-After of its own
 * (problem+json like Keel's) when no instance is ready. `X-Served-By` names the instance, for the checks.
 */
export function createHaProxy(port: number, servers: { name: string; port: number }[]): HaProxy {
  const dir = mkdtempSync(join(tmpdir(), 'keel-haproxy-'))
  const socket = join(dir, 'admin.sock')
  const problem = JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: 'No instance is ready' })
  writeFileSync(join(dir, '503.http'), [
    'HTTP/1.1 503 Service Unavailable', 'Content-Type: application/problem+json', 'Retry-After: 1', 'Cache-Control: no-store',
    'Connection: close', `Content-Length: ${Buffer.byteLength(problem)}`, '', problem,
  ].join('\r\n'))
  const config = join(dir, 'haproxy.cfg')
  writeFileSync(config, `global
  maxconn 4000
  stats socket ${socket} mode 600 level admin
  log stdout format raw local0 info

defaults
  mode http
  log global
  option httplog
  option http-keep-alive
  timeout connect 1s
  timeout client 30s
  timeout server 30s
  timeout http-request 10s
  # Shorter than Keel's keepAliveTimeout (10 s): the LB, never Keel, closes an idle connection, so no request is
  # sent on a connection the server is closing.
  timeout http-keep-alive 5s
  retries 2
  option redispatch 1
  retry-on conn-failure
  errorfile 503 ${join(dir, '503.http')}

frontend keel
  bind 127.0.0.1:${port}
  option forwardfor
  default_backend keel

backend keel
  balance roundrobin
  option httpchk GET /readyz
  http-check expect status 200
  http-response set-header X-Served-By %s
  default-server check inter ${CHECK.intervalMs}ms fall ${CHECK.fall} rise ${CHECK.rise} pool-purge-delay 5s
${servers.map((s) => `  server ${s.name} 127.0.0.1:${s.port}`).join('\n')}
`)
  let child: ChildProcess | undefined
  let log = ''
  return {
    base: `http://127.0.0.1:${port}`,
    async start() {
      const started = spawn('haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] })
      child = started
      started.stdout!.on('data', (d) => { log += d })
      started.stderr!.on('data', (d) => { log += d })
      await waitForPort(port, () => started.exitCode !== null)
        .catch((err: Error) => { throw new Error(`${err.message}; haproxy said: ${log.trim()}`) })
    },
    async stop() {
      if (!child || child.exitCode !== null) return
      child.kill('SIGTERM')
      await once(child, 'exit')
    },
    output: () => log,
    async states() {
      const states = new Map<string, string>()
      for (const [name, fields] of await serverStats(socket)) states.set(name, fields.status ?? '')
      return states
    },
    async counters(server) {
      const fields = (await serverStats(socket)).get(server) ?? {}
      const wanted = ['status', 'stot', 'econ', 'eresp', 'srv_abrt', 'cli_abrt', 'wretr', 'wredis', 'hrsp_5xx']
      return Object.fromEntries(wanted.map((k) => [k, fields[k] ?? '']))
    },
  }
}

/** The keel backend's servers from `show stat`, each as field → value. */
async function serverStats(socket: string): Promise<Map<string, Record<string, string>>> {
  const rows = (await adminCommand(socket, 'show stat')).split('\n').map((line) => line.split(','))
  const header = rows[0]!.map((h) => h.replace(/^# /, ''))
  const result = new Map<string, Record<string, string>>()
  for (const row of rows.slice(1)) {
    const fields = Object.fromEntries(header.map((h, i) => [h, row[i] ?? '']))
    if (fields.pxname === 'keel' && fields.svname && fields.svname !== 'BACKEND' && fields.svname !== 'FRONTEND') result.set(fields.svname, fields)
  }
  return result
}

function adminCommand(path: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(path)
    let text = ''
    socket.setEncoding('utf8')
    socket.on('data', (d: string) => { text += d })
    socket.on('end', () => resolve(text))
    socket.on('error', reject)
    socket.end(`${command}\n`)
  })
}
