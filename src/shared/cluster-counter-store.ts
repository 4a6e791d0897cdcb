import type { Worker } from 'node:cluster'
import { createMemoryCounterStore, type CounterStore, type Hit } from './counter-store.js'

interface HitRequest { type: 'keel:hit'; id: number; key: string; windowMs: number }
interface HitReply { type: 'keel:hit-reply'; id: number; hit: Hit }

/**
 * Worker side of rate-limit counters shared by all workers of one machine: each hit is one IPC round trip
 * to the primary, which holds the counters, so WORKERS=N does not multiply the limits by N.
 */
export function createClusterCounterStore(): CounterStore {
  let nextId = 0
  const pending = new Map<number, (hit: Hit) => void>()
  const onMessage = (message: HitReply) => {
    if (message?.type !== 'keel:hit-reply') return
    pending.get(message.id)?.(message.hit)
    pending.delete(message.id)
  }
  process.on('message', onMessage)
  return {
    hit(key, windowMs) {
      const id = nextId++
      return new Promise<Hit>((resolve, reject) => {
        pending.set(id, resolve)
        const request: HitRequest = { type: 'keel:hit', id, key, windowMs }
        process.send!(request, undefined, undefined, (err) => {
          if (err) {
            pending.delete(id)
            reject(err)
          }
        })
      })
    },
    async close() {
      process.off('message', onMessage)
      pending.clear()
    },
  }
}

/** Primary side: answers the workers' hits from one in-process store. */
export function serveClusterCounters(worker: Worker, store: CounterStore = sharedStore()): void {
  worker.on('message', (message: HitRequest) => {
    if (message?.type !== 'keel:hit') return
    void store.hit(message.key, message.windowMs).then((hit) => {
      if (worker.isConnected()) worker.send({ type: 'keel:hit-reply', id: message.id, hit } satisfies HitReply)
    })
  })
}

let primaryStore: CounterStore | undefined
const sharedStore = () => (primaryStore ??= createMemoryCounterStore())
