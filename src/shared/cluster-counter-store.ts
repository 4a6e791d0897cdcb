import type { CounterStore, Hit } from './counter-store.js'

interface HitRequest { type: 'keel:hit'; id: number; key: string; windowMs: number }
interface HitReply { type: 'keel:hit-reply'; id: number; hit: Hit }

/** The IPC end a worker talks through: `process` in a cluster worker. */
export interface WorkerChannel {
  send?(message: unknown, sendHandle?: undefined, options?: undefined, callback?: (err: Error | null) => void): boolean
  on(event: 'message', listener: (message: HitReply) => void): unknown
  off(event: 'message', listener: (message: HitReply) => void): unknown
}

/** The primary's view of one worker: a `cluster.Worker`. */
export interface PrimaryChannel {
  on(event: 'message', listener: (message: HitRequest) => void): unknown
  send(message: unknown): boolean
  isConnected(): boolean
}

/**
 * Worker side of rate-limit counters shared by all workers of one machine: each hit is one IPC round trip
 * to the primary, which holds the counters, so WORKERS=N does not multiply the limits by N.
 */
export function createClusterCounterStore(channel: WorkerChannel = process as WorkerChannel): CounterStore {
  let nextId = 0
  const pending = new Map<number, (hit: Hit) => void>()
  const onMessage = (message: HitReply) => {
    if (message?.type !== 'keel:hit-reply') return
    pending.get(message.id)?.(message.hit)
    pending.delete(message.id)
  }
  channel.on('message', onMessage)
  return {
    hit(key, windowMs) {
      const id = nextId++
      return new Promise<Hit>((resolve, reject) => {
        pending.set(id, resolve)
        const request: HitRequest = { type: 'keel:hit', id, key, windowMs }
        channel.send!(request, undefined, undefined, (err) => {
          if (err) {
            pending.delete(id)
            reject(err)
          }
        })
      })
    },
    async close() {
      channel.off('message', onMessage)
      pending.clear()
    },
  }
}

/** Primary side: answers every worker's hits from one in-process store. */
export function serveClusterCounters(worker: PrimaryChannel, store: CounterStore): void {
  worker.on('message', (message) => {
    if (message?.type !== 'keel:hit') return
    void store.hit(message.key, message.windowMs).then((hit) => {
      if (worker.isConnected()) worker.send({ type: 'keel:hit-reply', id: message.id, hit } satisfies HitReply)
    })
  })
}

