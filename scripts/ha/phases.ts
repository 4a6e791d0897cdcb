import { randomUUID } from 'node:crypto'
import pg from 'pg'
import { randomIp, send } from '../scale/client.js'
import type { Cluster } from './cluster.js'
import { TIMINGS } from './cluster.js'
import type { KeelInstance } from './keel.js'
import { failures, startLoad, statuses, type Client, type Event } from './load.js'
import { sleep, until } from './processes.js'
import type { RedisHa } from './redis.js'

export interface Row { phase: string; requests: number; failed: number; refused: number; note: string; problems: string[] }
export interface Ha { cluster: Cluster; redis: RedisHa; a: KeelInstance; b: KeelInstance; loginLimit: number }
export interface User { email: string; password: string; token: string }

export async function createUser(base: string): Promise<User> {
  const email = `ha-${randomUUID()}@example.com`
  const password = `pw-${randomUUID()}`
  const signUp = await send(base, 'POST', '/api/v1/users', { json: { email, password } })
  if (signUp.status !== 201) throw new Error(`sign-up: ${signUp.status} ${signUp.body}`)
  return { email, password, token: await login(base, email, password) }
}

async function login(base: string, email: string, password: string): Promise<string> {
  const res = await send(base, 'POST', '/api/v1/auth/token', { json: { email, password } })
  if (res.status !== 200) throw new Error(`login: ${res.status} ${res.body}`)
  return res.json<{ access_token: string }>().access_token
}

async function sql<T>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 })
  await client.connect()
  try {
    return (await client.query(text, values)).rows as T[]
  } finally {
    await client.end()
  }
}

/**
 * Both replicas paused in replay: a caller's write on A, then its read on B, must see the write (the primary
 * answers); the same on an instance with READ_YOUR_WRITES=false must read stale data, or this check proves nothing.
 */
export async function readYourWrites(ha: Ha, unchecked: KeelInstance): Promise<Row> {
  const problems: string[] = []
  const leader = await ha.cluster.leader()
  const standbys = ha.cluster.members.filter((m) => m !== leader)
  const round = async (writer: KeelInstance, reader: KeelInstance, n: number) => {
    const user = await createUser(writer.base)
    let stale = 0
    let requests = 0
    for (let i = 0; i < n; i++) {
      const created = await send(writer.base, 'POST', '/api/v1/items', { token: user.token, json: { name: `v${i}` } })
      const id = created.json<{ id: number }>().id
      const read = await send(reader.base, 'GET', `/api/v1/items/${id}`, { token: user.token })
      const patched = await send(writer.base, 'PATCH', `/api/v1/items/${id}`, { token: user.token, json: { name: `w${i}` } })
      const reread = await send(reader.base, 'GET', `/api/v1/items/${id}`, { token: user.token })
      requests += 4
      if (created.status !== 201 || patched.status !== 200) problems.push(`write answered ${created.status}/${patched.status}`)
      if (read.status !== 200 || read.json<{ name: string }>().name !== `v${i}`) stale++
      if (reread.status !== 200 || reread.json<{ name: string }>().name !== `w${i}`) stale++
    }
    return { stale, requests }
  }
  await ha.cluster.maintenance(true)
  try {
    // Inside the try: a failed pause must not leave the cluster in maintenance mode (no failover in later phases).
    for (const m of standbys) await sql(ha.cluster.memberUrl(m), 'select pg_wal_replay_pause()')
    const on = await round(ha.a, ha.b, 20)
    const off = await round(unchecked, unchecked, 5)
    if (on.stale > 0) problems.push(`${on.stale} stale reads with read-your-writes on`)
    if (off.stale === 0) problems.push('no stale read with READ_YOUR_WRITES=false: the check cannot tell')
    return {
      phase: 'read-your-writes, replicas paused', requests: on.requests + off.requests, failed: 0, refused: 0, problems,
      note: `on (write A, read B): ${on.stale} stale of 40 reads; off: ${off.stale} stale of 10 reads`,
    }
  } finally {
    for (const m of standbys) await sql(ha.cluster.memberUrl(m), 'select pg_wal_replay_resume()').catch(() => undefined)
    await ha.cluster.maintenance(false)
  }
}

/** Readers and writers on both instances, each with a user of its own; readers read an item created beforehand. */
async function loadClients(ha: Ha, perInstance: { readers: number; writers: number }): Promise<Client[]> {
  const clients: Client[] = []
  for (const instance of [ha.a, ha.b]) {
    for (let i = 0; i < perInstance.readers + perInstance.writers; i++) {
      const user = await createUser(instance.base)
      if (i < perInstance.readers) {
        const item = await send(instance.base, 'POST', '/api/v1/items', { token: user.token, json: { name: 'read me' } })
        clients.push({ base: instance.base, token: user.token, kind: 'read', itemId: item.json<{ id: number }>().id })
      } else clients.push({ base: instance.base, token: user.token, kind: 'write' })
    }
  }
  return clients
}

/** The first write acknowledged that was sent after `t`, as ms after `t`. */
function writesBackAfter(events: Event[], t: number): number | undefined {
  const back = events.filter((e) => e.kind === 'write' && e.status === 201 && e.sent > t).sort((x, y) => x.at - y.at)[0]
  return back ? back.at - t : undefined
}

function summarise(events: Event[], problems: string[]): { requests: number; failed: number; refused: number } {
  const bad = failures(events)
  const kinds = new Map<string, number>()
  for (const e of bad) kinds.set(e.failure ?? String(e.status), (kinds.get(e.failure ?? String(e.status)) ?? 0) + 1)
  if (bad.length) problems.push(`failed requests: ${JSON.stringify(Object.fromEntries(kinds))}`)
  return { requests: events.length, failed: bad.length, refused: statuses(events).get(503) ?? 0 }
}

async function acknowledgedPresent(ha: Ha, ids: number[], problems: string[]): Promise<void> {
  const rows = await until('the primary to answer', async () => sql<{ n: number }>(ha.cluster.primaryUrl,
    'select count(*)::int as n from items where id = any($1::bigint[])', [ids]), 30_000, 500)
  const present = rows[0]!.n
  if (present !== ids.length) problems.push(`${ids.length - present} of ${ids.length} acknowledged writes missing`)
}

/** kill -9 of the leader's Patroni and PostgreSQL under read and write load on both instances. */
export async function killLeader(ha: Ha): Promise<Row & { killed: string }> {
  const problems: string[] = []
  const clients = await loadClients(ha, { readers: 3, writers: 3 })
  const leader = await ha.cluster.leader()
  if (!leader) throw new Error('no leader before the kill')
  const load = startLoad(clients)
  await sleep(3_000)
  const killedAt = performance.now()
  ha.cluster.killMember(leader)
  const limitMs = (TIMINGS.ttl + 10) * 1_000
  await until('writes acknowledged again', async () => writesBackAfter(load.events, killedAt), limitMs + 5_000, 200).catch(() => undefined)
  const backMs = writesBackAfter(load.events, killedAt)
  await sleep(3_000)
  await load.stop()
  const outageEnd = killedAt + (backMs ?? limitMs)
  const during = load.events.filter((e) => e.kind === 'read' && e.sent >= killedAt && e.at <= outageEnd)
  const served = during.filter((e) => e.status === 200).length
  const seconds = new Set(during.map((e) => Math.floor((e.at - killedAt) / 1_000)))
  const servedSeconds = new Set(during.filter((e) => e.status === 200).map((e) => Math.floor((e.at - killedAt) / 1_000)))
  const share = during.length ? served / during.length : 0
  if (backMs === undefined || backMs > limitMs) problems.push(`writes not back within ttl + 10 s (${TIMINGS.ttl + 10} s)`)
  if (share < 0.5) problems.push(`reads served during the outage: ${(share * 100).toFixed(0)} % (< 50 %)`)
  for (const i of [ha.a, ha.b]) if (!i.alive()) problems.push(`${i.name} exited`)
  const summary = summarise(load.events, problems)
  await acknowledgedPresent(ha, load.acknowledged, problems)
  // The old leader rejoins as a replica (pg_rewind); the phases after this one start from a whole cluster again.
  const restarted = performance.now()
  ha.cluster.startMember(leader)
  await ha.cluster.synchronous(90_000, ha.cluster.members)
  const rejoinMs = performance.now() - restarted
  return {
    phase: 'kill -9 leader under load', ...summary, problems, killed: leader.name,
    note: `writes back after ${backMs === undefined ? '-' : (backMs / 1000).toFixed(1)} s; reads served during the outage: `
      + `${served}/${during.length} (${(share * 100).toFixed(0)} %), in ${servedSeconds.size}/${seconds.size} of its seconds; `
      + `${load.acknowledged.length} acknowledged writes all present: ${problems.every((p) => !p.includes('missing'))}; `
      + `${leader.name} back as a replica after ${(rejoinMs / 1000).toFixed(1)} s`,
  }
}

/** A planned switchover to the synchronous standby under load: nothing but 503s may fail, writes back within 10 s. */
export async function switchover(ha: Ha): Promise<Row> {
  const problems: string[] = []
  const clients = await loadClients(ha, { readers: 2, writers: 2 })
  // Only the synchronous standby may take over without losing an acknowledged write: Patroni refuses any other.
  const waited = performance.now()
  const { leader, standby: candidate } = await ha.cluster.synchronous(60_000)
  const syncWaitMs = performance.now() - waited
  const load = startLoad(clients)
  await sleep(2_000)
  const at = performance.now()
  await ha.cluster.switchover(leader, candidate)
  await until('the new leader', async () => (await ha.cluster.leader()) === candidate || undefined, 30_000, 200)
  await sleep(3_000)
  await load.stop()
  // The longest stretch without an acknowledged write, from the switchover on.
  const writes = load.events.filter((e) => e.kind === 'write' && e.status === 201 && e.at >= at).map((e) => e.at)
  let gap = 0
  let previous = at
  for (const t of writes) { gap = Math.max(gap, t - previous); previous = t }
  if (gap > 10_000) problems.push(`writes stopped for ${(gap / 1000).toFixed(1)} s (> 10 s)`)
  const summary = summarise(load.events, problems)
  await acknowledgedPresent(ha, load.acknowledged, problems)
  return {
    phase: `switchover ${leader.name} → ${candidate.name} under load`, ...summary, problems,
    note: `longest stretch without an acknowledged write: ${(gap / 1000).toFixed(1)} s (synchronous standby there after ${(syncWaitMs / 1000).toFixed(1)} s)`,
  }
}

/** After the failover: a password changed through A is refused on B at once, and so is B's old token. */
export async function passwordAfterFailover(ha: Ha): Promise<Row> {
  const problems: string[] = []
  const user = await createUser(ha.a.base)
  const onB = await login(ha.b.base, user.email, user.password)
  const warm = await send(ha.b.base, 'GET', '/api/v1/users/me', { token: onB }) // B caches the user
  const next = `pw-${randomUUID()}`
  const changed = await send(ha.a.base, 'PUT', '/api/v1/users/me/password', { token: user.token, json: { current_password: user.password, new_password: next } })
  const oldToken = await send(ha.b.base, 'GET', '/api/v1/users/me', { token: onB })
  const oldPassword = await send(ha.b.base, 'POST', '/api/v1/auth/token', { json: { email: user.email, password: user.password }, ip: randomIp() })
  const newPassword = await send(ha.b.base, 'POST', '/api/v1/auth/token', { json: { email: user.email, password: next }, ip: randomIp() })
  const readyB = await send(ha.b.base, 'GET', '/readyz')
  if (warm.status !== 200 || changed.status !== 204) problems.push(`setup answered ${warm.status}/${changed.status}`)
  if (oldToken.status !== 401) problems.push(`B's old token answered ${oldToken.status}`)
  if (oldPassword.status !== 401) problems.push(`old password on B answered ${oldPassword.status}`)
  if (newPassword.status !== 200) problems.push(`new password on B answered ${newPassword.status}`)
  return {
    phase: 'password changed on A, refused on B', requests: 7, failed: 0, refused: 0, problems,
    note: `old token on B ${oldToken.status}, old password ${oldPassword.status}, new ${newPassword.status}; B /readyz: ${readyB.body}`,
  }
}

const REDIS_BACK = 'redis is reachable again: rate limits are shared again'

/**
 * Login attempts counted in Redis survive the master's death: the limit is reached at the same attempt. Some
 * attempts are made on B while there is no master (B counts them in-process then) and the rest once B's rate-limit
 * store is back on Redis (its log says so; requests to B until then), so the phase checks both halves: counts
 * replicated before the kill, and counts made during the failover added to the shared counter afterwards.
 */
export async function redisMasterKilled(ha: Ha): Promise<Row> {
  const problems: string[] = []
  const email = `ha-limit-${randomUUID()}@example.com`
  const attempt = (base: string) => send(base, 'POST', '/api/v1/auth/token', { json: { email, password: 'wrong password' }, ip: randomIp() })
  const before = Math.floor(ha.loginLimit / 2)
  const during = 2
  let n = 0
  let limitedAt: number | undefined
  const next = async (base: string) => {
    const status = (await attempt(base)).status
    n++
    if (status === 429) limitedAt ??= n
    else if (status !== 401) problems.push(`attempt ${n} answered ${status}`)
  }
  for (let i = 0; i < before; i++) await next(ha.a.base)
  const replicas = await ha.redis.replicated()
  if (replicas < 1) problems.push('the Redis replica did not confirm the counts before the kill (WAIT)')
  const logged = ha.b.output().length
  const { failover } = await ha.redis.killMaster()
  const killed = performance.now()
  for (let i = 0; i < during; i++) await next(ha.b.base)
  const failoverMs = await failover
  // Any request counts in the global rate limit: B's store notices Redis is back on one and says so in its log.
  const sharedMs = await until('B\'s rate limits on Redis again', async () => {
    if (ha.b.output().slice(logged).includes(REDIS_BACK)) return performance.now() - killed
    await send(ha.b.base, 'GET', '/api/v1/users/me', { ip: randomIp() })
    return undefined
  }, 20_000, 100).catch(() => undefined)
  if (sharedMs === undefined) problems.push('B did not use Redis again within 20 s of the kill')
  while (n < ha.loginLimit + 5 && limitedAt === undefined) await next(ha.b.base)
  if (limitedAt !== ha.loginLimit + 1) problems.push(`429 at attempt ${limitedAt ?? 'never'}, expected ${ha.loginLimit + 1}: counts were lost`)
  return {
    phase: 'Redis master killed', requests: n, failed: 0, refused: 0, problems,
    note: `new master after ${(failoverMs / 1000).toFixed(1)} s, B's limits shared again after ${sharedMs === undefined ? '-' : (sharedMs / 1000).toFixed(1)} s; `
      + `login limit ${ha.loginLimit}: ${before} attempts on A before the kill, ${during} on B during the failover, 429 at attempt ${limitedAt ?? '-'} on B`,
  }
}
