import { execFileSync } from 'node:child_process'
import { chownSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import pg from 'pg'
import { daemon, killDaemon, killTree, until, type Daemon } from './processes.js'

/**
 * Patroni timings (seconds). Patroni's rule: loop_wait + 2 × retry_timeout ≤ ttl (2 + 2 × 5 = 12). A dead leader's
 * key expires after at most ttl; a replica then takes over within one loop.
 */
export const TIMINGS = { ttl: 12, loop_wait: 2, retry_timeout: 5 }
/** The cluster's database (created once the leader is up) and the role Keel connects as. */
export const DATABASE = 'keel'

export interface Member {
  name: string
  pgPort: number
  apiPort: number
  dataDir: string
  patroni?: Daemon | undefined
}

export interface Cluster {
  members: Member[]
  primaryUrl: string
  replicaUrl: string
  /** A direct connection string to one member (no HAProxy). */
  memberUrl(member: Member): string
  /** The member Patroni reports as leader now, if any. */
  leader(): Promise<Member | undefined>
  /** Patroni's view: name → role (leader, sync_standby, replica) and state. */
  roles(): Promise<Map<string, { role: string; state: string }>>
  /**
   * Waits until Patroni reports a running leader and a synchronous standby that is running, with every member in
   * `members` running: after a failover the new leader names a synchronous standby only once one streams from it,
   * and a switchover is refused (or a kill could lose writes) until then.
   */
  synchronous(timeoutMs: number, members?: Member[]): Promise<{ leader: Member; standby: Member }>
  startMember(member: Member): void
  /** SIGKILL to the member's Patroni and its PostgreSQL (postmaster and backends). */
  killMember(member: Member): void
  switchover(from: Member, to: Member): Promise<void>
  /**
   * Patroni's maintenance mode, on every member once it resolves: no failover, and a standby's replay paused by
   * hand stays paused (otherwise Patroni resumes it within one loop).
   */
  maintenance(on: boolean): Promise<void>
  stop(): Promise<void>
}

const PG_BIN = '/usr/lib/postgresql/15/bin'

/** 3 etcd members, 3 Patroni members (synchronous_mode) and HAProxy routing on /primary and /replica. */
export async function startCluster(dir: string, ports: () => number): Promise<Cluster> {
  const { uid, gid } = postgresUser()
  const etcd = [0, 1, 2].map((i) => ({ name: `etcd${i + 1}`, client: ports(), peer: ports() }))
  const members: Member[] = [0, 1, 2].map((i) => ({ name: `pg${i + 1}`, pgPort: ports(), apiPort: ports(), dataDir: join(dir, `pg${i + 1}`) }))
  const [primaryPort, replicaPort] = [ports(), ports()]
  const daemons: Daemon[] = []
  const initial = etcd.map((e) => `${e.name}=http://127.0.0.1:${e.peer}`).join(',')
  for (const e of etcd) {
    daemons.push(daemon(e.name, dir, 'etcd', [
      '--name', e.name, '--data-dir', join(dir, `${e.name}.data`),
      '--listen-client-urls', `http://127.0.0.1:${e.client}`, '--advertise-client-urls', `http://127.0.0.1:${e.client}`,
      '--listen-peer-urls', `http://127.0.0.1:${e.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${e.peer}`,
      '--initial-cluster', initial, '--initial-cluster-token', `keel-ha-${process.pid}`, '--initial-cluster-state', 'new',
      // A shared, loaded machine: a longer election timeout than the default 1 s keeps etcd from flapping.
      '--heartbeat-interval', '200', '--election-timeout', '2000',
    ]))
  }
  const haproxy = writeHaProxy(dir, members, primaryPort, replicaPort)
  const cluster: Cluster = {
    members,
    primaryUrl: `postgres://postgres@127.0.0.1:${primaryPort}/${DATABASE}`,
    replicaUrl: `postgres://postgres@127.0.0.1:${replicaPort}/${DATABASE}`,
    memberUrl: (m) => `postgres://postgres@127.0.0.1:${m.pgPort}/${DATABASE}`,
    async leader() {
      const roles = await cluster.roles()
      return members.find((m) => roles.get(m.name)?.role === 'leader')
    },
    async roles() {
      for (const m of members) {
        const res = await fetch(`http://127.0.0.1:${m.apiPort}/cluster`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined)
        if (!res?.ok) continue
        const body = await res.json() as { members: { name: string; role: string; state: string }[] }
        return new Map(body.members.map((x) => [x.name, { role: x.role, state: x.state }]))
      }
      return new Map()
    },
    async synchronous(timeoutMs, wanted = []) {
      return until('a leader and a synchronous standby', async () => {
        const roles = await cluster.roles()
        const up = (m: Member) => ['running', 'streaming'].includes(roles.get(m.name)?.state ?? '')
        const leader = members.find((m) => roles.get(m.name)?.role === 'leader' && up(m))
        const standby = members.find((m) => roles.get(m.name)?.role === 'sync_standby' && up(m))
        return leader && standby && wanted.every(up) ? { leader, standby } : undefined
      }, timeoutMs, 200)
    },
    startMember(m) {
      mkdirSync(m.dataDir, { recursive: true, mode: 0o700 })
      chownSync(m.dataDir, uid, gid)
      const config = join(dir, `${m.name}.yml`)
      writeFileSync(config, JSON.stringify(patroniConfig(m, dir, etcd.map((e) => `127.0.0.1:${e.client}`))))
      m.patroni = daemon(m.name, dir, 'patroni', [config], { uid, gid, cwd: dir, env: { ...process.env, HOME: dir } })
    },
    killMember(m) {
      const postmaster = Number(readFileSync(join(m.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
      killTree(m.patroni?.child.pid)
      killTree(postmaster)
    },
    async switchover(from, to) {
      const res = await fetch(`http://127.0.0.1:${from.apiPort}/switchover`, {
        method: 'POST', body: JSON.stringify({ leader: from.name, candidate: to.name }), signal: AbortSignal.timeout(30_000),
      })
      if (!res.ok) throw new Error(`switchover refused: ${res.status} ${await res.text()}`)
    },
    async maintenance(on) {
      const res = await fetch(`http://127.0.0.1:${members[0]!.apiPort}/config`, { method: 'PATCH', body: JSON.stringify({ pause: on }) })
      if (!res.ok) throw new Error(`PATCH /config answered ${res.status}`)
      for (const m of members) {
        await until(`${m.name} to ${on ? 'enter' : 'leave'} maintenance mode`, async () => {
          const state = await (await fetch(`http://127.0.0.1:${m.apiPort}/patroni`)).json() as { pause?: boolean }
          return Boolean(state.pause) === on || undefined
        }, 20_000, 200)
      }
    },
    async stop() {
      await killDaemon(haproxyDaemon)
      for (const m of members) {
        let postmaster: number | undefined
        try { postmaster = Number(readFileSync(join(m.dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]) } catch { /* not running */ }
        await killDaemon(m.patroni)
        killTree(postmaster)
      }
      for (const d of daemons) await killDaemon(d)
    },
  }
  chownSync(dir, uid, gid)
  const haproxyDaemon = daemon('haproxy', dir, 'haproxy', ['-db', '-f', haproxy])
  daemons.push(haproxyDaemon)
  try {
    for (const m of members) cluster.startMember(m)
    await until('a Patroni leader and two streaming replicas, one synchronous', async () => {
      const roles = [...(await cluster.roles()).values()]
      const ready = roles.length === 3 && roles.filter((r) => r.role === 'leader').length === 1
        && roles.some((r) => r.role === 'sync_standby') && roles.every((r) => ['running', 'streaming'].includes(r.state))
      return ready || undefined
    }, 120_000, 500)
    await until('the database through HAProxy', async () => {
      const client = new pg.Client({ connectionString: cluster.primaryUrl.replace(`/${DATABASE}`, '/postgres') })
      await client.connect()
      try {
        const exists = await client.query('select 1 from pg_database where datname = $1', [DATABASE])
        if (!exists.rowCount) await client.query(`create database ${DATABASE}`)
        return true
      } finally {
        await client.end()
      }
    }, 30_000, 300)
    // Patroni's "running" is not "streaming": a replica whose slot was not there yet may still lack the database.
    for (const m of members) {
      await until(`the database on ${m.name}`, async () => {
        const client = new pg.Client({ connectionString: cluster.memberUrl(m), connectionTimeoutMillis: 1_000 })
        await client.connect()
        await client.end()
        return true
      }, 60_000, 300)
    }
  } catch (err) {
    await cluster.stop()
    throw err
  }
  return cluster
}

function postgresUser(): { uid: number; gid: number } {
  return {
    uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
    gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
  }
}

/** JSON is YAML: Patroni reads it as its configuration file. */
function patroniConfig(m: Member, dir: string, etcdHosts: string[]) {
  const hba = ['local all all trust', 'host all all 127.0.0.1/32 trust', 'host replication all 127.0.0.1/32 trust']
  return {
    scope: `keel-ha-${process.pid}`,
    name: m.name,
    log: { level: 'INFO' },
    restapi: { listen: `127.0.0.1:${m.apiPort}`, connect_address: `127.0.0.1:${m.apiPort}` },
    etcd3: { hosts: etcdHosts },
    bootstrap: {
      dcs: {
        ...TIMINGS,
        maximum_lag_on_failover: 1_048_576,
        // A commit is acknowledged only once the synchronous standby has it: a failover to it loses nothing.
        synchronous_mode: true,
        postgresql: { use_pg_rewind: true, parameters: { wal_log_hints: 'on', max_connections: 200 } },
      },
      initdb: [{ encoding: 'UTF8' }, 'data-checksums'],
    },
    postgresql: {
      listen: `127.0.0.1:${m.pgPort}`,
      connect_address: `127.0.0.1:${m.pgPort}`,
      data_dir: m.dataDir,
      bin_dir: PG_BIN,
      pgpass: join(dir, `${m.name}.pgpass`),
      pg_hba: hba,
      authentication: {
        superuser: { username: 'postgres', password: 'postgres' },
        replication: { username: 'replicator', password: 'replicator' },
      },
      parameters: { unix_socket_directories: dir, shared_buffers: '32MB' },
    },
    tags: {},
  }
}

/** HAProxy in TCP mode: the primary port on Patroni's /primary check, the replica port on /replica. */
function writeHaProxy(dir: string, members: Member[], primaryPort: number, replicaPort: number): string {
  const servers = members.map((m) => `  server ${m.name} 127.0.0.1:${m.pgPort} check port ${m.apiPort}`).join('\n')
  const file = join(dir, 'haproxy.cfg')
  writeFileSync(file, `global
  maxconn 2000
defaults
  mode tcp
  timeout connect 1s
  timeout client 30m
  timeout server 30m
  timeout check 1s
  # A server leaving the pool has its connections cut: clients reconnect to the one that answers now.
  default-server inter 500ms fall 2 rise 1 on-marked-down shutdown-sessions
listen primary
  bind 127.0.0.1:${primaryPort}
  option httpchk OPTIONS /primary
  http-check expect status 200
${servers}
listen replica
  bind 127.0.0.1:${replicaPort}
  balance roundrobin
  option httpchk OPTIONS /replica
  http-check expect status 200
${servers}
`)
  return file
}
