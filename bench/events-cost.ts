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
  /** Events of the run (created after the writes began) the log holds: what each stream should receive. */
  runEvents: number
  /** Events of the run received across all streams, and how many there should have been (run events × streams). */
  delivered: number
  expected: number
  /**
   * Events written before the run (the previous scenario's last writes) that streams received too: a stream without
   * Last-Event-ID starts at its instance's position in the log, which trails the log's end by the delivery lag.
   */
  earlier: number
  /** From the first write to the last event received. */
  seconds: number
  /** Streams that missed events of the run, and their counts. */
  short: string
  /** Streams the server ended during the run (too slow a reader: the bench process shares the machine). */
  endedEarly: number
  /** Ids of events of the run that the first stream did not receive live. */
  missing: number[]
  /** Streams that received an id not above the one before it (the hub delivers in id order). */
  outOfOrder: number
  /** delivered / seconds. */
  deliveredPerSecond: number
  /** Receipt time minus the event's created_at (its transaction's start), on one stream. */
  latencyMs: { p50: number; p99: number; max: number }
}

interface OpenStream {
  /** The ids received, in order. */
  ids: number[]
  /** The server ended it (a client too slow to read is disconnected). */
  ended: boolean
  close(): void
}

// Every frame is `id: <n>\ndata: {"id":<n>,…}`: the JSON starts with its id (events.shape.ts), read without parsing.
const FRAME = 'data: {"id":'

/** A stream of `GET /api/v1/events?types=…` that keeps the ids it receives; `onEvent` parses them (one stream is enough). */
function openStream(baseUrl: string, token: string, types: string, onEvent?: (json: string) => void, lastEventId?: number): Promise<OpenStream> {
  const headers = { authorization: `Bearer ${token}`, ...(lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) }) }
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}/api/v1/events?types=${types}`, { headers }, (res) => {
      if (res.statusCode !== 200) return reject(new Error(`GET /api/v1/events answered ${res.statusCode}`))
      res.setEncoding('utf8')
      let carry = ''
      const stream: OpenStream = { ids: [], ended: false, close: () => req.destroy() }
      res.once('close', () => { stream.ended = true })
      res.on('data', (chunk: string) => {
        const text = carry + chunk
        // The frame's prefix only starts a line: JSON.stringify writes no space after a colon.
        for (let at = text.indexOf(FRAME); at !== -1; at = text.indexOf(FRAME, at + FRAME.length)) {
          const end = text.indexOf('\n', at)
          if (end === -1) {
            carry = text.slice(at)
            return
          }
          stream.ids.push(parseInt(text.slice(at + FRAME.length, at + FRAME.length + 20), 10))
          onEvent?.(text.slice(at + FRAME.length - '{"id":'.length, end))
        }
        // Enough to hold a frame's prefix split across two chunks.
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
    for (let seen = -1; replay.ids.length !== seen;) {
      seen = replay.ids.length
      await sleep(1_000)
    }
    return ids
  } finally {
    replay.close()
  }
}

const received = (open: OpenStream[]) => open.reduce((n, s) => n + s.ids.length, 0)
const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]! : NaN)

/**
 * The fan-out rate: `streams` SSE streams of the writing user open on `keel`, then the POST scenario runs; the events
 * of the run (created after the writes began, as the log holds them) each stream receives are counted once every
 * stream has the newest event and nothing more comes for a second (at most 5 s of silence). Runs on the bench's
 * main Keel, so it works on both engines.
 *
 * Only the run's events count: streams opened right after the previous scenario also receive some of its last
 * events, as many as their instance's delivery still trailed the log's end by when they opened (it differs between
 * workers and between streams), which made every stream's count different before 2026-12-04.
 */
export async function measureFanOut(
  keel: KeelProcess, settings: LoadSettings, spec: LoadSpec, token: string, streams: number,
): Promise<FanOutResult> {
  const lags: number[] = []
  let last = 0
  const onEvent = (json: string) => {
    last = Date.now()
    const event = JSON.parse(json) as { created_at: string }
    lags.push(last - Date.parse(event.created_at))
  }
  const open: OpenStream[] = []
  try {
    for (let i = 0; i < streams; i++) open.push(await openStream(keel.baseUrl, token, 'items.created', i === 0 ? onEvent : undefined))
    const start = Date.now()
    const r = await measure({ ...settings, baseUrl: keel.baseUrl, serverPid: keel.pid, warmupSeconds: 0 }, spec)
    const writes = r.responses - r.non2xx
    // Requests still in flight when the load generator stopped commit too, uncounted. Wait until every live stream
    // has the newest event any stream has and nothing more comes for a second.
    const newest = () => Math.max(0, ...open.map((s) => s.ids.at(-1) ?? 0))
    const settled = () => open.every((s) => s.ended || (s.ids.at(-1) ?? 0) === newest())
    for (let seen = received(open), quiet = Date.now(); Date.now() - quiet < (settled() ? 1_000 : 5_000);) {
      await sleep(50)
      if (received(open) !== seen) [seen, quiet] = [received(open), Date.now()]
    }
    // The run's events are those created since `start` (created_at is the transaction's start, on the same clock).
    const run = new Set(await replayedIds(keel.baseUrl, token, start))
    const ofRun = open.map((s) => s.ids.filter((id) => run.has(id)).length)
    const delivered = ofRun.reduce((a, b) => a + b, 0)
    const expected = run.size * open.length
    const shortStreams = ofRun.filter((n) => n < run.size)
    const firstIds = new Set(open[0]?.ids)
    // The last receipt on any stream: the first stream's is a close bound (all streams get each event together).
    const seconds = Math.max(r.seconds, ((last || Date.now()) - start) / 1_000)
    const sorted = [...lags].sort((a, b) => a - b)
    return {
      short: shortStreams.length
        ? `${shortStreams.length} stream(s) short, counts ${[...new Set(shortStreams)].slice(0, 10).join(', ')} of ${run.size}` : '',
      missing: [...run].filter((id) => !firstIds.has(id)),
      outOfOrder: open.filter((s) => s.ids.some((id, i) => i > 0 && id <= s.ids[i - 1]!)).length,
      endedEarly: open.filter((s) => s.ended).length,
      streams, opened: open.length, writes, writeRps: writes / r.seconds, runEvents: run.size,
      delivered, expected, earlier: received(open) - delivered, seconds,
      deliveredPerSecond: delivered / seconds,
      latencyMs: { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), max: sorted.at(-1) ?? NaN },
    }
  } finally {
    for (const s of open) s.close()
  }
}
