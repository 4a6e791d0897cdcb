import { spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { busyPorts } from '../scale/ports.js'
import { startCluster, TIMINGS, type Cluster } from './cluster.js'
import { keelInstance, type KeelInstance } from './keel.js'
import { killLeader, passwordAfterFailover, readYourWrites, redisMasterKilled, switchover, type Ha, type Row } from './phases.js'
import { SENTINEL_NAME, startRedisHa, type RedisHa } from './redis.js'

/**
 * `npm run test:ha` (SPEC §10): 3 etcd + 3 Patroni members (synchronous_mode) + HAProxy on /primary and /replica,
 * Redis with 3 sentinels, two Keel instances reading from the replicas; every phase of issue 23 against it over
 * real sockets. One table of figures; exit 1 on any failure. Everything on loopback, ports HA_PORT (default
 * 18400) to HA_PORT + 29, all of it torn down at the end, failed or not. Needs root (PostgreSQL runs as the
 * postgres user) and Debian's patroni, etcd-server, haproxy, redis-server, postgresql-15.
 * `--keep-up`: after the phases, the cluster and HAProxy stay up (their URLs printed) until SIGINT or SIGTERM, for
 * `npm run bench -- --replica-cost` on real standbys (BENCH_DATABASE_URL, BENCH_REPLICA_URL).
 */
const LOGIN_LIMIT = 10

async function main(): Promise<number> {
  for (const binary of ['patroni', 'etcd', 'haproxy', 'redis-server', '/usr/lib/postgresql/15/bin/postgres']) {
    if (!which(binary)) {
      console.error(`test:ha needs ${binary} (Debian: apt-get install -y patroni etcd-server haproxy redis-server postgresql-15)`)
      return 1
    }
  }
  const base = Number(process.env.HA_PORT ?? 18400)
  const busy = await busyPorts(base, base + 29)
  if (busy.length) throw new Error(`ports ${busy.join(', ')} are in use: set HA_PORT to the first of 30 free ones`)
  let next = base
  const ports = () => next++
  const started = performance.now()
  if (spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status !== 0) return 1
  const dir = mkdtempSync(join(tmpdir(), 'keel-ha-'))
  console.log(`logs and data of this run: ${dir}; Patroni ttl ${TIMINGS.ttl} s, loop_wait ${TIMINGS.loop_wait} s, retry_timeout ${TIMINGS.retry_timeout} s`)
  let cluster: Cluster | undefined
  let redis: RedisHa | undefined
  const instances: KeelInstance[] = []
  const teardown = async () => {
    for (const i of instances) await i.stop().catch(() => undefined)
    for (const i of instances) writeFileSync(join(dir, `${i.name}.log`), i.output())
    await redis?.stop().catch(() => undefined)
    await cluster?.stop().catch(() => undefined)
  }
  const interrupted = () => void teardown().finally(() => process.exit(1))
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted)
  const rows: Row[] = []
  try {
    ;[cluster, redis] = await Promise.all([startCluster(dir, ports), startRedisHa(dir, ports)])
    console.log(`cluster, HAProxy and Redis with sentinels up in ${((performance.now() - started) / 1000).toFixed(1)} s`)
    const env = instanceEnv(cluster, redis)
    const [a, b, unchecked] = [
      keelInstance('keel-a', ports(), env), keelInstance('keel-b', ports(), env),
      keelInstance('keel-c-ryw-off', ports(), { ...env, READ_YOUR_WRITES: 'false' }),
    ]
    instances.push(a, b, unchecked)
    await a.start() // migrates first; the others find the schema in place
    await Promise.all([b.start(), unchecked.start()])
    const ha: Ha = { cluster, redis, a, b, loginLimit: LOGIN_LIMIT }
    const step = async (name: string, run: () => Promise<Row>) => {
      console.log(`-- ${name}`)
      try {
        rows.push(await run())
      } catch (err) {
        rows.push({ phase: name, requests: 0, failed: 0, refused: 0, note: '', problems: [`could not run: ${String(err)}`] })
      }
    }
    await step('read-your-writes, replicas paused', () => readYourWrites(ha, unchecked))
    await unchecked.stop()
    await step('kill -9 leader under load', () => killLeader(ha))
    await step('password changed on A, refused on B', () => passwordAfterFailover(ha))
    await step('switchover under load', () => switchover(ha))
    await step('Redis master killed', () => redisMasterKilled(ha))
    rows.push(outageLog([a, b]))
    if (process.argv.includes('--keep-up')) {
      for (const i of instances) await i.stop()
      printTable(rows)
      console.log(`kept up until SIGINT or SIGTERM: BENCH_DATABASE_URL=${cluster.primaryUrl.replace(/\/[^/]*$/, '/postgres')} `
        + `BENCH_REPLICA_URL=${cluster.replicaUrl.replace(/\/[^/]*$/, '/postgres')}`)
      process.off('SIGINT', interrupted).off('SIGTERM', interrupted)
      await new Promise((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve))
    }
  } finally {
    await teardown()
  }
  printTable(rows)
  const failed = rows.filter((r) => r.problems.length > 0)
  for (const r of failed) for (const p of r.problems) console.log(`FAIL ${r.phase}: ${p}`)
  console.log(`test:ha: ${failed.length ? `${failed.length} of ${rows.length} phases failed` : `all ${rows.length} phases passed`} `
    + `in ${((performance.now() - started) / 1000).toFixed(0)} s`)
  return failed.length ? 1 : 0
}

function instanceEnv(cluster: Cluster, redis: RedisHa): Record<string, string> {
  return {
    NODE_ENV: 'production', SECRET_KEY: randomBytes(48).toString('base64url'), BCRYPT_ROUNDS: '10', LOG_LEVEL: 'info', WORKERS: '1',
    DATABASE_URL: cluster.primaryUrl, DATABASE_REPLICA_URL: cluster.replicaUrl, DATABASE_POOLER: 'session',
    REDIS_SENTINELS: redis.sentinels, REDIS_SENTINEL_NAME: SENTINEL_NAME, TRUST_PROXY: '127.0.0.1',
    RATE_LIMIT_PER_MINUTE: '1000000', LOGIN_RATE_LIMIT_PER_MINUTE: String(LOGIN_LIMIT),
    SHUTDOWN_DRAIN_SECONDS: '0', SMTP_URL: 'log:', APP_URL: 'http://127.0.0.1',
  }
}

/**
 * An outage is two events per instance and server, not an error per request or a warning per poll: what the
 * instances logged. The failover and the switchover are two outages of the primary (and of a replica, whose
 * member is promoted or demoted): at most OUTAGES "unreachable" lines per instance and server. No line may carry a
 * stack: every failure a failover causes is expected, and a stack is for the unexpected (a 500).
 */
const OUTAGES = 2

function outageLog(instances: KeelInstance[]): Row {
  const problems: string[] = []
  const counts = { unreachable: 0, back: 0, errors: 0, stacks: 0, warnings: 0 }
  for (const i of instances) {
    const perServer = new Map<string, number>()
    for (const line of i.output().split('\n')) {
      if (!line.startsWith('{')) continue
      const entry = JSON.parse(line) as { level: number; msg?: string; server?: string; err?: { stack?: string } }
      if (entry.msg?.startsWith('database unreachable')) {
        counts.unreachable++
        perServer.set(entry.server ?? '?', (perServer.get(entry.server ?? '?') ?? 0) + 1)
      } else if (entry.msg?.startsWith('database reachable again')) counts.back++
      else if (entry.level >= 50) counts.errors++
      else if (entry.level >= 40) counts.warnings++
      if (entry.err?.stack) counts.stacks++
    }
    for (const [server, n] of perServer) if (n > OUTAGES) problems.push(`${i.name}: ${n} × "database unreachable (${server})" for ${OUTAGES} outages`)
  }
  if (counts.errors > 0) problems.push(`${counts.errors} other error lines`)
  if (counts.stacks > 0) problems.push(`${counts.stacks} lines with a stack`)
  if (counts.unreachable === 0 || counts.back === 0) problems.push('no outage events logged')
  return {
    phase: 'what the instances logged', requests: 0, failed: 0, refused: 0, problems,
    note: `${counts.unreachable} × "database unreachable", ${counts.back} × "reachable again", ${counts.errors} other errors, `
      + `${counts.warnings} other warnings, ${counts.stacks} lines with a stack`,
  }
}

function printTable(rows: Row[]): void {
  const header = ['phase', 'requests', 'failed', '503', 'result', 'figures']
  const lines = rows.map((r) => [r.phase, String(r.requests), String(r.failed), String(r.refused), r.problems.length ? 'FAIL' : 'pass', r.note])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const format = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  console.log(['', format(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(format), ''].join('\n'))
}

function which(binary: string): boolean {
  if (binary.startsWith('/')) return existsSync(binary)
  return [...(process.env.PATH ?? '').split(':'), '/usr/sbin'].some((dir) => existsSync(`${dir}/${binary}`))
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error('test:ha could not run:', err)
  process.exit(1)
})
