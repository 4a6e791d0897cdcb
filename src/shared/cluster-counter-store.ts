import { createMemoryCounterStore, type CounterStore, type Hit, type Lease, type MemoryCounterStore } from './counter-store.js'

type CounterRequest =
  | { type: 'keel:hit'; id: number; key: string; windowMs: number }
  | { type: 'keel:lease'; id: number; key: string; windowMs: number; max: number; returned?: Returned }
  | { type: 'keel:release'; key: string } & Returned
type CounterReply =
  | { type: 'keel:hit-reply'; id: number; hit: Hit }
  | { type: 'keel:lease-reply'; id: number; lease: Lease }

/** Unspent hits of a lease, given back to the window they came from. */
interface Returned { resetAt: number; hits: number }

/** A lease is spent for at most this long; then what is left of it goes back to the primary for any worker to use. */
const LEASE_TTL_MS = 1_000
/** Past this the primary is taken as unreachable and the worker counts on its own until it answers again. */
const IPC_TIMEOUT_MS = 1_000

/** The IPC end a worker talks through: `process` in a cluster worker. */
export interface WorkerChannel {
  send?(message: unknown, sendHandle?: undefined, options?: undefined, callback?: (err: Error | null) => void): boolean
  on(event: 'message', listener: (message: CounterReply) => void): unknown
  off(event: 'message', listener: (message: CounterReply) => void): unknown
}

/** The primary's view of one worker: a `cluster.Worker`. */
export interface PrimaryChannel {
  on(event: 'message', listener: (message: CounterRequest) => void): unknown
  send(message: unknown): boolean
  isConnected(): boolean
}

interface HeldLease {
  left: number
  /** The window's count in the primary when the lease was granted. */
  count: number
  resetAt: number
  grantedAt: number
}

/**
 * Worker side of rate-limit counters shared by all workers of one machine; the primary holds the counters, so
 * WORKERS=N does not multiply the limits by N.
 *
 * A hit without `max` (the login limiter) is one IPC round trip. A hit with `max` (the global limit, on every
 * request) is answered from a lease: the primary grants a share of what is left of the client's window and the
 * worker spends it locally, asking again when it is used up. A round trip per request cost about a third of the
 * CPU of a cached item read (docs/benchmark.md). Leases never add up to more than `max`, so no client gets past
 * its limit. A lease is spent for at most a second; what is left of it then goes back to the primary, so a client
 * whose requests move between workers is refused early for at most that second, by what another worker still holds.
 * If the primary does not answer within a second, the worker counts on its own (limits then hold per worker).
 */
export function createClusterCounterStore(channel: WorkerChannel = process as WorkerChannel): CounterStore {
  let nextId = 0
  const pending = new Map<number, (reply: CounterReply) => void>()
  const leases = new Map<string, HeldLease>()
  const asking = new Map<string, Promise<void>>()
  const fallback = createMemoryCounterStore()
  const onMessage = (message: CounterReply) => {
    if (message?.type !== 'keel:hit-reply' && message?.type !== 'keel:lease-reply') return
    pending.get(message.id)?.(message)
    pending.delete(message.id)
  }
  channel.on('message', onMessage)

  const send = (message: CounterRequest, callback?: (err: Error | null) => void) => channel.send!(message, undefined, undefined, callback)
  const ask = (request: Extract<CounterRequest, { id: number }>) => new Promise<CounterReply>((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(request.id)
      reject(new Error('the cluster primary did not answer'))
    }, IPC_TIMEOUT_MS)
    pending.set(request.id, (reply) => {
      clearTimeout(timer)
      resolve(reply)
    })
    send(request, (err) => {
      if (!err) return
      clearTimeout(timer)
      pending.delete(request.id)
      reject(err)
    })
  })

  /** Takes one hit from the lease held for `key` while it is fresh; a used-up window is refused locally. */
  const spend = (key: string, max: number): Hit | undefined => {
    const lease = leases.get(key)
    const now = Date.now()
    if (!lease || lease.resetAt <= now || now - lease.grantedAt >= LEASE_TTL_MS) return undefined
    if (lease.left > 0) {
      lease.left--
      return { count: lease.count - lease.left, resetMs: lease.resetAt - now }
    }
    return lease.count >= max ? { count: max + 1, resetMs: lease.resetAt - now } : undefined
  }

  /** What is left of a lease that is still in its window, taken from it to be given back. */
  const unspent = (key: string): Returned | undefined => {
    const lease = leases.get(key)
    if (!lease || lease.left === 0 || lease.resetAt <= Date.now()) return undefined
    const returned = { resetAt: lease.resetAt, hits: lease.left }
    lease.left = 0
    return returned
  }

  // One lease request per key at a time: hits arriving meanwhile wait for it instead of asking again.
  const renew = (key: string, windowMs: number, max: number): Promise<void> => {
    let request = asking.get(key)
    if (!request) {
      const returned = unspent(key)
      request = ask({ type: 'keel:lease', id: nextId++, key, windowMs, max, ...(returned ? { returned } : {}) }).then((reply) => {
        if (reply.type !== 'keel:lease-reply') return
        const { granted, count, resetAt } = reply.lease
        leases.set(key, { left: granted, count: granted > 0 ? count : max, resetAt, grantedAt: Date.now() })
      }).finally(() => asking.delete(key))
      asking.set(key, request)
    }
    return request
  }

  // Idle leases go back to the primary; leases of windows that ended are dropped (the map stays bounded).
  const sweeper = setInterval(() => {
    const now = Date.now()
    for (const [key, lease] of leases) {
      if (lease.resetAt > now && now - lease.grantedAt < LEASE_TTL_MS) continue
      const returned = asking.has(key) ? undefined : unspent(key)
      if (returned) send({ type: 'keel:release', key, ...returned }, () => undefined)
      if (!asking.has(key)) leases.delete(key)
    }
  }, LEASE_TTL_MS)
  sweeper.unref()

  return {
    async hit(key, windowMs, max) {
      try {
        if (max === undefined) {
          const reply = await ask({ type: 'keel:hit', id: nextId++, key, windowMs })
          return (reply as Extract<CounterReply, { type: 'keel:hit-reply' }>).hit
        }
        for (;;) {
          const hit = spend(key, max)
          if (hit) return hit
          await renew(key, windowMs, max)
        }
      } catch {
        // The primary is gone or stuck: a worker never fails a request for a counter, it counts on its own.
        return fallback.hit(key, windowMs)
      }
    },
    async close() {
      clearInterval(sweeper)
      channel.off('message', onMessage)
      pending.clear()
      leases.clear()
      await fallback.close()
    },
  }
}

/**
 * Primary side: answers every worker's exact hits and lease requests from one in-process store. Each lease is a
 * quarter of what is left of the window, split over `workers`, so grants shrink to single hits near the limit.
 */
export function serveClusterCounters(worker: PrimaryChannel, store: MemoryCounterStore, workers: number): void {
  const parts = 4 * Math.max(1, workers)
  worker.on('message', (message) => {
    if (message?.type === 'keel:release') {
      store.release(message.key, message.resetAt, message.hits)
    } else if (message?.type === 'keel:lease') {
      if (message.returned) store.release(message.key, message.returned.resetAt, message.returned.hits)
      const lease = store.reserve(message.key, message.windowMs, message.max, parts)
      if (worker.isConnected()) worker.send({ type: 'keel:lease-reply', id: message.id, lease } satisfies CounterReply)
    } else if (message?.type === 'keel:hit') {
      void store.hit(message.key, message.windowMs).then((hit) => {
        if (worker.isConnected()) worker.send({ type: 'keel:hit-reply', id: message.id, hit } satisfies CounterReply)
      })
    }
  })
}
