import { request } from 'node:http'
import pg from 'pg'
import { compareAlternating, measureOn, median, type FeatureCost } from './feature-cost.js'
import { measure, type LoadResult, type LoadSettings } from './load.js'
import type { LoadSpec } from './load-spec.js'
import { freePort, startKeel, type KeelProcess } from './server-process.js'

export interface EventWriteCost extends FeatureCost {
  /** The trigger compared: items' row trigger and the function it runs. */
  trigger: string
  /** Events the "on" rounds wrote (warm-ups included), and those written while the trigger was off (should be 0). */
  eventsWritten: number
  eventsWhileOff: number
  /** The median of each round's req/s ratio (with / without): steadier than the ratio of medians when the machine drifts. */
  pairedRatio: number
  /** Median PostgreSQL CPU per request with the trigger / without, minus 1: where the trigger's work is done. */
  dbCpuCost: number
}

/**
 * What writing an event costs POST /api/v1/items: one fresh Keel on the bench database, the scenario run in
 * alternating rounds with items' event trigger disabled and enabled (ALTER TABLE … DISABLE TRIGGER between rounds,
 * by a connection of the bench's own). The same process, pool and table on both sides, so the difference is the
 * trigger's work in each write's transaction.
 */
export async function measureEventWriteCost(
  root: string, env: Record<string, string>, nodeArgs: string[], settings: LoadSettings, spec: LoadSpec, rounds: number,
): Promise<EventWriteCost> {
  const admin = new pg.Client({ connectionString: env.DATABASE_URL, connectionTimeoutMillis: 5_000 })
  await admin.connect()
  let keel: KeelProcess | undefined
  try {
    const trigger = (await admin.query<{ definition: string }>(
      `select pg_get_triggerdef(oid) as definition from pg_trigger where tgname = 'items_record_event'`)).rows[0]?.definition
    if (!trigger) throw new Error('items has no items_record_event trigger')
    const count = async () => Number((await admin.query<{ n: string }>(`select count(*) as n from events where resource = 'items'`)).rows[0]!.n)
    let eventsWhileOff = 0
    let eventsWritten = 0
    const started = await startKeel(root, { ...env, PORT: String(await freePort()) }, nodeArgs)
    keel = started
    const run = async (enabled: boolean) => {
      await admin.query(`ALTER TABLE items ${enabled ? 'ENABLE' : 'DISABLE'} TRIGGER items_record_event`)
      const before = await count()
      const result = await measureOn(started, settings, spec)
      const written = (await count()) - before
      if (enabled) eventsWritten += written
      else eventsWhileOff += written
      return result
    }
    const cost = await compareAlternating(rounds, () => run(false), () => run(true))
    const dbCpu = (results: LoadResult[]) => median(results.map((r) => r.dbCpuMsPerRequest ?? NaN))
    return {
      ...cost, trigger, eventsWritten, eventsWhileOff,
      pairedRatio: median(cost.on.map((r, i) => r.rps / cost.off[i]!.rps)),
      dbCpuCost: dbCpu(cost.on) / dbCpu(cost.off) - 1,
    }
  } finally {
    await admin.query('ALTER TABLE items ENABLE TRIGGER items_record_event').catch(() => undefined)
    await admin.end()
    await keel?.stop()
  }
}

export interface FanOutResult {
  streams: number
  /** Streams of the writing user open when the writes started (each may read every event written). */
  opened: number
  /** Writes answered 201 during the run. */
  writes: number
  writeRps: number
  /** Events received across all streams, and how many there should have been (events written × streams). */
  delivered: number
  expected: number
  /** From the first write to the last event received. */
  seconds: number
  /** Streams that received fewer events than the others, and their counts. */
  short: string
  /** Streams the server ended during the run (too slow a reader: the bench process shares the machine). */
  endedEarly: number
  /** Ids of events of the run that the log holds and the first stream did not receive live. */
  missing: number[]
  /** delivered / seconds. */
  deliveredPerSecond: number
  /** Receipt time minus the event's created_at (its transaction's start), on one stream. */
  latencyMs: { p50: number; p99: number; max: number }
}

interface OpenStream {
  count: number
  /** The server ended it (a client too slow to read is disconnected). */
  ended: boolean
  close(): void
}

const FRAME = 'data: '

/** A stream of `GET /api/v1/events?types=…` that counts its events; `onEvent` parses them (one stream is enough). */
function openStream(baseUrl: string, token: string, types: string, onEvent?: (json: string) => void, lastEventId?: number): Promise<OpenStream> {
  const headers = { authorization: `Bearer ${token}`, ...(lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) }) }
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}/api/v1/events?types=${types}`, { headers }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET /api/v1/events answered ${res.statusCode}`))
      res.setEncoding('utf8')
      let carry = ''
      const stream: OpenStream = { count: 0, ended: false, close: () => req.destroy() }
      res.once('close', () => { stream.ended = true })
      res.on('data', (chunk: string) => {
        const text = carry + chunk
        // "data: " only starts a line: JSON.stringify writes no space after a colon.
        for (let at = text.indexOf(FRAME); at !== -1; at = text.indexOf(FRAME, at + FRAME.length)) {
          const end = text.indexOf('\n', at)
          if (end === -1) {
            carry = text.slice(at)
            return
          }
          stream.count++
          onEvent?.(text.slice(at + FRAME.length, end))
        }
        // Enough to hold a "data: " split across two chunks.
        carry = text.slice(-FRAME.length)
        if (carry.includes('\n')) carry = carry.slice(carry.lastIndexOf('\n') + 1)
      })
      res.once('error', () => undefined)
      // The first comment (": connected") says the stream is registered with the hub.
      res.once('data', () => resolve(stream))
    })
    req.once('error', reject)
    req.end()
  })
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The ids of the events created since `since` that the log holds, replayed from the start (Last-Event-ID: 0). */
async function replayedIds(baseUrl: string, token: string, since: number): Promise<number[]> {
  const ids: number[] = []
  const replay = await openStream(baseUrl, token, 'items.created', (json) => {
    const event = JSON.parse(json) as { id: number; created_at: string }
    if (Date.parse(event.created_at) >= since) ids.push(event.id)
  }, 0)
  try {
    for (let seen = -1; replay.count !== seen;) {
      seen = replay.count
      await sleep(1_000)
    }
    return ids
  } finally {
    replay.close()
  }
}

const delivered = (open: OpenStream[]) => open.reduce((n, s) => n + s.count, 0)
const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN)

/**
 * The fan-out rate: `streams` SSE streams of the writing user open on `keel`, then the POST scenario runs; every
 * event each stream receives until all have arrived (or nothing more comes for 5 s) is counted. Runs on the bench's
 * main Keel, so it works on both engines.
 */
export async function measureFanOut(
  keel: KeelProcess, settings: LoadSettings, spec: LoadSpec, token: string, streams: number,
): Promise<FanOutResult> {
  const lags: number[] = []
  const received = new Set<number>()
  let last = 0
  const onEvent = (json: string) => {
    last = Date.now()
    const event = JSON.parse(json) as { id: number; created_at: string }
    received.add(event.id)
    lags.push(last - Date.parse(event.created_at))
  }
  const open: OpenStream[] = []
  try {
    for (let i = 0; i < streams; i++) open.push(await openStream(keel.baseUrl, token, 'items.created', i === 0 ? onEvent : undefined))
    const start = Date.now()
    const r = await measure({ ...settings, baseUrl: keel.baseUrl, serverPid: keel.pid, warmupSeconds: 0 }, spec)
    const writes = r.responses - r.non2xx
    // Requests still in flight when the load generator stopped commit too, uncounted: each stream should get the
    // same number of events, at least `writes`. Wait until they have, and nothing more comes for a second.
    const counts = () => open.map((s) => s.count)
    const live = () => open.filter((s) => !s.ended).map((s) => s.count)
    const settled = () => Math.min(...live()) >= writes && Math.min(...live()) === Math.max(...counts())
    for (let seen = delivered(open), quiet = Date.now(); Date.now() - quiet < (settled() ? 1_000 : 5_000);) {
      await sleep(50)
      if (delivered(open) !== seen) [seen, quiet] = [delivered(open), Date.now()]
    }
    const expected = Math.max(writes, ...counts()) * open.length
    const total = delivered(open)
    // The last receipt on any stream: the first stream's is a close bound (all streams get each event together).
    const seconds = Math.max(r.seconds, ((last || Date.now()) - start) / 1_000)
    const sorted = [...lags].sort((a, b) => a - b)
    // Every event of the run the log holds should have come live (created_at is its transaction's start, after `start`).
    const missing = (await replayedIds(keel.baseUrl, token, start)).filter((id) => !received.has(id))
    const short = counts().filter((n) => n < expected / open.length)
    return {
      short: short.length ? `${short.length} stream(s) short, counts ${[...new Set(short)].slice(0, 10).join(', ')} of ${expected / open.length}` : '',
      missing, endedEarly: open.filter((s) => s.ended).length,
      streams, opened: open.length, writes, writeRps: writes / r.seconds, delivered: total, expected, seconds,
      deliveredPerSecond: total / seconds,
      latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? NaN },
    }
  } finally {
    for (const s of open) s.close()
  }
}
