import { randomBytes } from 'node:crypto'
import { sql } from 'drizzle-orm'
import type { Logger } from 'pino'
import type { Database, Listener } from './client.js'
import { logBackgroundFailure } from './outage.js'

// Control messages share the channel of the notifications they order themselves after (see docs/scale.md).
const HERE = 'keel-here:'
const BYE = 'keel-bye:'
const SYNC = 'keel-sync:'
const ACK = 'keel-ack:'

export interface InvalidationBusOptions {
  logger?: Logger | undefined
  heartbeatMs?: number
  /** How long a writer waits for the acknowledgements of every live instance before answering anyway (logged). */
  settleTimeoutMs?: number
}

interface Wait { acks: Set<string>; expected?: string[]; finish(): void }
interface Channel { listener?: Listener; ready: boolean; seen: Map<string, number>; waits: Map<string, Wait> }

/**
 * Cross-instance cache invalidation that a writer can wait for. Every process with a cache LISTENs on its channel
 * and announces itself there (`keel-here:<id>` every second while its LISTEN works). After committing a change, the
 * writer calls `settle(channel)`: it NOTIFYs a marker on the channel; PostgreSQL delivers notifications to each
 * listener in commit order, so a process that receives the marker has already handled the change's own NOTIFY (the
 * trigger's, committed earlier) and answers with an acknowledgement. `settle` resolves once every live process has
 * acknowledged, or after `settleTimeoutMs` with a warning. On the embedded engine (one process) it resolves at once:
 * the writer's own cache is invalidated in-process before it answers.
 */
export function createInvalidationBus(database: Database, options: InvalidationBusOptions = {}) {
  const id = randomBytes(6).toString('base64url')
  const heartbeatMs = options.heartbeatMs ?? 1_000
  const settleTimeoutMs = options.settleTimeoutMs ?? 1_500
  const channels = new Map<string, Channel>()
  const notify = (channel: string, payload: string) =>
    database.db.execute(sql`select pg_notify(${channel}, ${payload})`).then(() => undefined, (err: unknown) => {
      if (options.logger) logBackgroundFailure((e) => database.unavailable(e), options.logger, err, `invalidation control NOTIFY on ${channel} failed`)
    })
  const live = (ch: Channel) => [...ch.seen].filter(([, at]) => Date.now() - at < heartbeatMs * 3.5).map(([who]) => who)
  const check = (wait: Wait) => {
    if (wait.expected?.every((who) => wait.acks.has(who))) wait.finish()
  }
  const hello = (channel: string, ch: Channel) => {
    if (ch.listener?.isListening()) void notify(channel, HERE + id)
  }

  function handle(channel: string, ch: Channel, payload: string): boolean {
    const [kind, a, b] = payload.startsWith('keel-') ? payload.split(':') : []
    if (kind === undefined) return false
    if (kind + ':' === HERE) {
      if (a === id) ch.ready = true
      else ch.seen.set(a!, Date.now())
    } else if (kind + ':' === BYE) {
      ch.seen.delete(a!)
    } else if (kind + ':' === SYNC && b !== id) {
      void notify(channel, `${ACK}${a}:${id}`)
    } else if (kind + ':' === SYNC) {
      // Our own marker is back: every instance that announced itself before it is one we must hear from.
      const wait = ch.waits.get(a!)
      if (wait) {
        wait.expected = live(ch)
        check(wait)
      }
    } else if (kind + ':' === ACK) {
      const wait = ch.waits.get(a!)
      wait?.acks.add(b!)
      if (wait) check(wait)
    } else {
      return false
    }
    return true
  }

  return {
    /** LISTENs like `database.listen`; `isListening()` is true only once this process's own announcement came back. */
    async subscribe(channel: string, onMessage: (payload: string) => void, onReset: () => void): Promise<Listener> {
      if (database.engine === 'pglite') return database.listen(channel, onMessage, onReset)
      const ch: Channel = { ready: false, seen: new Map(), waits: new Map() }
      channels.set(channel, ch)
      ch.listener = await database.listen(channel, (payload) => {
        if (!handle(channel, ch, payload)) onMessage(payload)
      }, () => {
        ch.ready = false
        onReset()
        setImmediate(() => hello(channel, ch))
      })
      hello(channel, ch)
      const timer = setInterval(() => hello(channel, ch), heartbeatMs)
      timer.unref()
      const listener = ch.listener
      return {
        isListening: () => listener.isListening() && ch.ready,
        state: () => listener.state(),
        async close() {
          clearInterval(timer)
          channels.delete(channel)
          if (listener.isListening()) await notify(channel, BYE + id)
          await listener.close()
        },
      }
    },

    /** After a commit: resolves once every live process has handled the notifications committed so far on `channel`. */
    async settle(channel: string): Promise<void> {
      const ch = channels.get(channel)
      if (!ch || database.engine === 'pglite') return
      const nonce = randomBytes(9).toString('base64url')
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          const wait = ch.waits.get(nonce)
          const missing = wait?.expected?.filter((who) => !wait.acks.has(who)) ?? live(ch)
          options.logger?.warn({ channel, missing, listening: ch.listener?.isListening() }, 'cache invalidation not acknowledged by every instance in time; answering anyway')
          finish()
        }, settleTimeoutMs)
        const finish = () => {
          clearTimeout(timer)
          ch.waits.delete(nonce)
          resolve()
        }
        ch.waits.set(nonce, { acks: new Set(), finish })
        void notify(channel, `${SYNC}${nonce}:${id}`)
      })
    },
  }
}

export type InvalidationBus = ReturnType<typeof createInvalidationBus>
