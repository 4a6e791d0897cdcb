import { randomBytes } from 'node:crypto'
import type pg from 'pg'
import type { Logger } from 'pino'
import { isDatabaseUnavailable } from './errors.js'
import { describeCause } from './outage.js'

/**
 * `listening`: notifications are known to arrive. `connecting`: no LISTEN connection yet (or it dropped).
 * `silent`: LISTEN succeeded but a probe NOTIFY never arrived — typically DATABASE_LISTEN_URL goes through a
 * transaction pooler, which hands the LISTENing server connection to other clients and drops what it receives.
 */
export type ListenerState = 'listening' | 'connecting' | 'silent'

export interface Listener {
  isListening(): boolean
  state(): ListenerState
  close(): Promise<void>
}

export interface ServerListenerOptions {
  pg: typeof import('pg').default
  url: string
  channel: string
  onMessage(payload: string): void
  /** Runs whenever notifications may have been missed: before trusting a (re)established LISTEN, and on loss. */
  onReset(): void
  /** Sends `NOTIFY channel, payload` the way the application's own writes do (through the pool). */
  notify(channel: string, payload: string): Promise<unknown>
  logger?: Logger | undefined
  probeIntervalMs?: number
  probeTimeoutMs?: number
}

const PROBE_PREFIX = 'keel-probe:'
const RECONNECT_MS = 1_000

/**
 * A LISTEN connection outside the pool that reconnects by itself. A LISTEN that succeeded is not trusted until a
 * probe NOTIFY, sent through the pool, comes back on it; the probe repeats every `probeIntervalMs`, so a
 * connection that silently stopped delivering (a pooler in between, a half-open socket) is noticed and replaced.
 */
export async function listenOnServer(options: ServerListenerOptions): Promise<Listener> {
  const { pg, url, channel, onMessage, onReset, notify, logger } = options
  const probeIntervalMs = options.probeIntervalMs ?? 15_000
  const probeTimeoutMs = options.probeTimeoutMs ?? 2_000
  let client: pg.Client | undefined
  let state: ListenerState = 'connecting'
  let warned: ListenerState | undefined
  let closed = false
  let timer: NodeJS.Timeout | undefined
  const probes = new Map<string, () => void>()

  const later = (fn: () => Promise<void>, ms: number) => {
    clearTimeout(timer)
    if (closed) return
    timer = setTimeout(() => void fn().catch(() => undefined), ms)
    timer.unref()
  }
  const become = (next: ListenerState, err?: unknown) => {
    const wasListening = state === 'listening'
    state = next
    if (wasListening && next !== 'listening') onReset()
    if (next === 'listening' || closed) {
      warned = undefined
      return
    }
    if (warned === next) return
    warned = next
    if (next === 'silent') {
      logger?.warn(`LISTEN ${channel} receives no notifications (is DATABASE_LISTEN_URL a transaction pooler? `
        + 'point it at PostgreSQL or a session pooler): the user cache is bypassed')
    } else {
      // Connection-class (a failover, a restart): a reason, not a stack; the outage itself is logged once (outage.ts).
      const detail = err === undefined || isDatabaseUnavailable(err) ? { reason: err === undefined ? 'connection ended' : describeCause(err) } : { err }
      logger?.warn(detail, `LISTEN ${channel} connection unavailable: the user cache is bypassed, reconnecting`)
    }
  }
  const drop = (current: pg.Client) => {
    if (client !== current) return
    client = undefined
    current.end().catch(() => undefined)
  }

  // 'arrived' when a fresh probe comes back on `current` within the timeout; 'unsent' when the NOTIFY itself failed.
  const probe = async (current: pg.Client): Promise<'arrived' | 'missing' | { unsent: unknown }> => {
    const id = PROBE_PREFIX + randomBytes(9).toString('base64url')
    const arrived = new Promise<boolean>((resolve) => {
      const expiry = setTimeout(() => resolve(false), probeTimeoutMs)
      expiry.unref()
      probes.set(id, () => { clearTimeout(expiry); resolve(true) })
    })
    try {
      await notify(channel, id)
      return await arrived && client === current ? 'arrived' : 'missing'
    } catch (err) {
      return { unsent: err }
    } finally {
      probes.delete(id)
    }
  }

  const check = async (current: pg.Client): Promise<void> => {
    const outcome = await probe(current)
    if (client !== current) return
    if (outcome === 'arrived') {
      if (state !== 'listening') onReset() // anything before this point may have been missed: start from nothing
      become('listening')
      later(() => check(current), probeIntervalMs)
      return
    }
    drop(current)
    if (outcome === 'missing') {
      become('silent')
      later(connect, probeIntervalMs)
    } else {
      become('connecting', outcome.unsent)
      later(connect, RECONNECT_MS)
    }
  }

  const connect = async (): Promise<void> => {
    const next = new pg.Client({ connectionString: url, connectionTimeoutMillis: 1_500, keepAlive: true })
    const lost = (err?: unknown) => {
      if (client !== next) return
      drop(next)
      become('connecting', err)
      later(connect, RECONNECT_MS)
    }
    client = next
    next.on('error', lost)
    next.on('end', () => lost())
    next.on('notification', (n) => {
      if (n.channel !== channel || client !== next) return
      const payload = n.payload ?? ''
      if (payload.startsWith(PROBE_PREFIX)) probes.get(payload)?.()
      else onMessage(payload)
    })
    try {
      await next.connect()
      await next.query(`LISTEN ${channel}`)
    } catch (err) {
      lost(err)
      return
    }
    await check(next)
  }

  await connect()
  return {
    isListening: () => state === 'listening',
    state: () => state,
    async close() {
      closed = true
      clearTimeout(timer)
      state = 'connecting'
      const current = client
      client = undefined
      await current?.end().catch(() => undefined)
    },
  }
}
