import type { Logger } from 'pino'
import type { Database, Listener } from '../../db/client.js'
import { logBackgroundFailure } from '../../db/outage.js'
import { isAtLeast, isRole } from '../orgs/roles.js'
import { createHorizon, observe } from './events.horizon.js'
import { createEventsRepository, PAGE_SIZE, type Grants } from './events.repository.js'
import type { EventShaper, PublicEvent, StoredEvent } from './events.shape.js'
import type { EventStats } from './events.stats.js'
import type { CloseReason, EventStream } from './events.stream.js'

export interface HubOptions {
  database: Database
  logger: Logger
  shape: EventShaper
  /** The role an org member needs to read a resource's events, by resource name. */
  readRole(resource: string): string
  heartbeatMs: number
  /** Events are kept this long (EVENT_RETENTION_HOURS). */
  retentionHours: number
  /** Idle polling while notifications are known to arrive (each one triggers a read at once). */
  pollMs?: number
  stats: EventStats
  /** Called with each new safe horizon (webhooks fan out up to it). */
  onHorizon?(horizon: number): void
}

// While ids are known but not yet safe and streams wait for them, look again this soon: the transactions holding them
// are about to end. Not sooner: under a steady write load the hub would be reading the log hundreds of times a second,
// a page and a grants query each time (bench/events-cost.ts measures what that costs POST).
const CATCH_UP_MS = 20
// Without a working LISTEN (connecting, or a pooler in the way) the log is polled this often instead.
const FALLBACK_POLL_MS = 500
// How often the log is read when nothing wakes the hub: writes no longer NOTIFY (migration 0010), so this is the
// delivery latency across instances.
const POLL_MS = 200

interface Frame { event: PublicEvent; text: string }
type Grant = Grants['users'] extends Map<number, infer G> ? G : never

/**
 * The events of this instance: reads the log up to the safe horizon (events.horizon.ts) whenever a notification
 * is woken (a NOTIFY keel_events, which nothing sends since migration 0010, or its 200 ms poll) and hands each event to the open streams that
 * may read it. Every instance reads the log itself, so fan-out across instances needs only the database.
 * Authorization is read from the database for each page, at delivery time.
 */
export function createEventHub(options: HubOptions) {
  const { database, logger, shape, stats } = options
  const repo = createEventsRepository(database.db)
  const horizon = createHorizon()
  const streams = new Set<EventStream>()
  let position = 0
  let announced = 0
  let listener: Listener | undefined
  let timer: NodeJS.Timeout | undefined
  let heartbeat: NodeJS.Timeout | undefined
  let running: Promise<void> | undefined
  let again = false
  let stopped = true
  // Set once the log's end is known: before that a stream would not know where "now" is.
  let started = false

  const toFrame = (stored: StoredEvent): Frame => {
    const event = shape(stored)
    return { event, text: `id: ${event.id}\ndata: ${JSON.stringify(event)}\n\n` }
  }
  const isValid = (stream: EventStream, grant: Grant | undefined): grant is Grant =>
    grant !== undefined && grant.isActive && grant.tokenVersion === stream.tokenVersion && Date.now() < stream.expiresAt
  const mayRead = (stream: EventStream, grant: Grant, event: PublicEvent) => {
    if (!stream.wants(event.type)) return false
    if (event.org_id === undefined) return event.owner_id === stream.userId
    const role = grant.roles.get(event.org_id)
    const needed = options.readRole(event.resource)
    return isRole(role) && isRole(needed) && isAtLeast(role, needed)
  }

  /** Writes the frames after each stream's `after` it may read now; a stream whose credentials changed is closed. */
  async function deliver(targets: Map<EventStream, number>, frames: readonly Frame[]): Promise<void> {
    const orgs = new Set(frames.flatMap((f) => (f.event.org_id === undefined ? [] : [f.event.org_id])))
    const grants = await repo.grants(new Set([...targets.keys()].map((s) => s.userId)), orgs)
    let delivered = 0
    for (const [stream, after] of targets) {
      const grant = grants.users.get(stream.userId)
      if (!isValid(stream, grant)) {
        stream.close(grant && Date.now() >= stream.expiresAt ? 'expired' : 'revoked')
        continue
      }
      for (const { event, text } of frames) {
        if (event.id <= after || !mayRead(stream, grant, event)) continue
        stream.write(text)
        delivered++
      }
    }
    stats.delivered += delivered
  }

  /** Reads (position, upTo] a page at a time and delivers each page to the streams in step with the hub. */
  async function dispatch(upTo: number): Promise<void> {
    while (position < upTo) {
      const from = position
      const page = streams.size ? await repo.page(from, upTo) : []
      const to = page.length < PAGE_SIZE ? upTo : Number(page.at(-1)!.id)
      // Claimed synchronously: streams in step move on with the hub; one still catching up reads this range itself.
      const targets = new Map<EventStream, number>()
      const behind: EventStream[] = []
      for (const stream of streams) {
        if (stream.position < from || stream.catchingUp) continue
        // Its client has not taken what it was sent (a burst, a slow reader): it reads the log at its own pace.
        if (stream.overLimit()) behind.push(stream)
        else {
          targets.set(stream, stream.position)
          stream.position = Math.max(stream.position, to)
        }
      }
      position = to
      // After the hub has moved on: a catch-up ends when it reaches the hub's position.
      for (const stream of behind) startCatchUp(stream)
      if (page.length && targets.size) {
        try {
          await deliver(targets, page.map(toFrame))
        } catch (err) {
          // The streams were moved past this page: end them, so their clients resume from what they really have.
          for (const stream of targets.keys()) stream.close('error')
          throw err
        }
      }
    }
  }

  /**
   * Brings a stream up to the hub from the log, a page at a time and only as fast as its client reads (a resume with
   * Last-Event-ID, or a stream whose client fell behind the live pages); then it moves with the hub again.
   */
  async function catchUp(stream: EventStream): Promise<void> {
    const types = stream.types ? [...stream.types] : undefined
    try {
      while (stream.position < position && (await stream.writable())) {
        const upTo = position
        const page = await repo.pageFor(stream.userId, stream.position, upTo, types)
        const to = page.length < PAGE_SIZE ? upTo : Number(page.at(-1)!.id)
        await deliver(new Map([[stream, stream.position]]), page.map(toFrame))
        stream.position = Math.max(stream.position, to)
      }
    } finally {
      // In the same step as the loop's last check: a page the hub claims after it includes this stream again.
      stream.catchingUp = false
    }
  }

  function startCatchUp(stream: EventStream): void {
    if (stream.catchingUp) return
    stream.catchingUp = true
    catchUp(stream).catch((err: unknown) => {
      if (!stopped) logger.warn({ err }, 'event stream replay failed: closing it (the client resumes from its last id)')
      stream.close('error')
    })
  }

  async function round(): Promise<void> {
    const safe = horizon.observe(await observe(database.db, horizon.needsXid()))
    if (safe > position) await dispatch(safe)
    stats.position = position
    stats.pending = Math.max(0, horizon.seen() - position)
    if (safe > announced) {
      announced = safe
      options.onHorizon?.(safe)
    }
  }

  function schedule(ms: number) {
    clearTimeout(timer)
    if (stopped) return
    timer = setTimeout(wake, ms)
    timer.unref()
  }

  /** Reads the log now (a notification arrived), or right after the read in progress. */
  function wake(): void {
    if (stopped) return
    if (running) {
      again = true
      return
    }
    clearTimeout(timer)
    running = round().then(() => true, (err: unknown) => {
      logBackgroundFailure((e) => database.unavailable(e), logger, err, 'event log unavailable: retrying')
      return false
    }).then((succeeded) => {
      running = undefined
      if (again) {
        again = false
        return wake()
      }
      // After a failure, not at the catch-up pace: ids seen before an outage stay "behind" until it ends. With no stream
      // open, only webhooks wait for the horizon: the idle poll is soon enough for them.
      schedule(succeeded && horizon.behind() && streams.size ? CATCH_UP_MS : succeeded && listener?.isListening() ? options.pollMs ?? POLL_MS : FALLBACK_POLL_MS)
    })
  }

  /** Heartbeat: a comment keeps proxies from timing the stream out; credentials and lifetimes are checked again. */
  async function beat(): Promise<void> {
    if (!streams.size) return
    const targets = new Map([...streams].map((s) => [s, s.position]))
    await deliver(targets, [])
    for (const stream of streams) stream.heartbeat()
  }

  return {
    /** LISTENs, then takes the log's current end as its start: streams without Last-Event-ID begin there. */
    async start(): Promise<void> {
      stopped = false
      // Once: a start that failed (no database) is tried again, and must not LISTEN twice.
      listener ??= await database.listen('keel_events', wake, wake)
      // Two observations settle the horizon unless writes are in flight; then it follows within a few rounds.
      const first = await observe(database.db)
      horizon.observe(first)
      for (;;) {
        horizon.observe(await observe(database.db, horizon.needsXid()))
        if (horizon.current() >= first.lastId || stopped) break
        await new Promise((resolve) => setTimeout(resolve, CATCH_UP_MS))
      }
      position = horizon.current()
      started = true
      heartbeat = setInterval(() => void beat()
        .catch((err: unknown) => logBackgroundFailure((e) => database.unavailable(e), logger, err, 'event stream heartbeat failed')), options.heartbeatMs)
      heartbeat.unref()
      wake()
    },

    position: () => position,
    started: () => started,
    /** Ids handed out but not yet known to be final: the delivery lag, in events (a metric). */
    pending: () => Math.max(0, horizon.seen() - position),
    openStreams: () => streams.size,

    /** Registers an open stream; one resuming from an older id first replays the log. */
    add(stream: EventStream): void {
      streams.add(stream)
      stats.openStreams = streams.size
      if (stream.position < position) startCatchUp(stream)
    },
    /** A stream ended (its onClose). */
    remove(stream: EventStream, reason: CloseReason): void {
      if (!streams.delete(stream)) return
      stats.openStreams = streams.size
      stats.closed[reason] = (stats.closed[reason] ?? 0) + 1
    },

    /** Ends every stream (clients reconnect elsewhere with Last-Event-ID) and stops reading. */
    async stop(): Promise<void> {
      stopped = true
      clearTimeout(timer)
      clearInterval(heartbeat)
      for (const stream of streams) stream.close('shutdown')
      await running
      await listener?.close()
    },

    /** Deletes events past the retention window and expired tickets; returns how many events went. */
    async sweep(): Promise<number> {
      const deleted = await repo.sweep(options.retentionHours)
      await repo.sweepTickets()
      return deleted
    },
    /** A heartbeat now (it runs every heartbeatMs): streams get a comment, and those whose credentials changed end. */
    beat,
    wake,
  }
}

export type EventHub = ReturnType<typeof createEventHub>
