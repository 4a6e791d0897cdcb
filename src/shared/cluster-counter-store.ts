import type { CounterStore, Hit, Lease, MemoryCounterStore } from './counter-store.js'

type CounterRequest =
  | { type: 'keel:hit'; id: number; key: string; windowMs: number }
  | { type: 'keel:lease'; id: number; key: string; windowMs: number; max: number }
type CounterReply =
  | { type: 'keel:hit-reply'; id: number; hit: Hit }
  | { type: 'keel:lease-reply'; id: number; lease: Lease }

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
}

/**
 * Worker side of rate-limit counters shared by all workers of one machine; the primary holds the counters, so
 * WORKERS=N does not multiply the limits by N.
 *
 * A hit without `max` (the login limiter) is one IPC round trip. A hit with `max` (the global limit, on every
 * request) is answered from a lease: the primary grants a share of what is left of the client's window and the
 * worker spends it locally, asking again when it is used up. A round trip per request cost about a third of the
 * CPU of a cached item read (docs/benchmark.md). Leases never add up to more than `max`, so no client gets past
 * its limit; one whose requests move between workers may be refused a little early, by what another worker still
 * holds of its lease (at most a quarter of what was left, split over the workers, when that lease was granted).
 */
export function createClusterCounterStore(channel: WorkerChannel = process as WorkerChannel): CounterStore {
  let nextId = 0
  const pending = new Map<number, (reply: CounterReply) => void>()
  const leases = new Map<string, HeldLease>()
  const asking = new Map<string, Promise<void>>()
  const onMessage = (message: CounterReply) => {
    if (message?.type !== 'keel:hit-reply' && message?.type !== 'keel:lease-reply') return
    pending.get(message.id)?.(message)
    pending.delete(message.id)
  }
  channel.on('message', onMessage)

  const ask = (request: CounterRequest) => new Promise<CounterReply>((resolve, reject) => {
    pending.set(request.id, resolve)
    channel.send!(request, undefined, undefined, (err) => {
      if (err) {
        pending.delete(request.id)
        reject(err)
      }
    })
  })

  /** Takes one hit from the lease held for `key`, if it is still valid; a used-up window answers over the limit. */
  const spend = (key: string, max: number): Hit | undefined => {
    const lease = leases.get(key)
    const now = Date.now()
    if (!lease || lease.resetAt <= now) return undefined
    if (lease.left > 0) {
      lease.left--
      return { count: lease.count - lease.left, resetMs: lease.resetAt - now }
    }
    return lease.count >= max ? { count: max + 1, resetMs: lease.resetAt - now } : undefined
  }

  // One lease request per key at a time: hits arriving meanwhile wait for it instead of asking again.
  const renew = (key: string, windowMs: number, max: number): Promise<void> => {
    let request = asking.get(key)
    if (!request) {
      request = ask({ type: 'keel:lease', id: nextId++, key, windowMs, max }).then((reply) => {
        if (reply.type !== 'keel:lease-reply') return
        const { granted, count, resetMs } = reply.lease
        leases.set(key, { left: granted, count: granted > 0 ? count : max, resetAt: Date.now() + resetMs })
      }).finally(() => asking.delete(key))
      asking.set(key, request)
    }
    return request
  }

  // Leases of windows that ended are dropped once a minute, so the map stays bounded by recent clients.
  const sweeper = setInterval(() => {
    const now = Date.now()
    for (const [key, lease] of leases) if (lease.resetAt <= now) leases.delete(key)
  }, 60_000)
  sweeper.unref()

  return {
    async hit(key, windowMs, max) {
      if (max === undefined) {
        const reply = await ask({ type: 'keel:hit', id: nextId++, key, windowMs })
        return (reply as Extract<CounterReply, { type: 'keel:hit-reply' }>).hit
      }
      for (;;) {
        const hit = spend(key, max)
        if (hit) return hit
        await renew(key, windowMs, max)
      }
    },
    async close() {
      clearInterval(sweeper)
      channel.off('message', onMessage)
      pending.clear()
      leases.clear()
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
    if (message?.type === 'keel:lease') {
      const lease = store.reserve(message.key, message.windowMs, message.max, parts)
      if (worker.isConnected()) worker.send({ type: 'keel:lease-reply', id: message.id, lease } satisfies CounterReply)
    } else if (message?.type === 'keel:hit') {
      void store.hit(message.key, message.windowMs).then((hit) => {
        if (worker.isConnected()) worker.send({ type: 'keel:hit-reply', id: message.id, hit } satisfies CounterReply)
      })
    }
  })
}
