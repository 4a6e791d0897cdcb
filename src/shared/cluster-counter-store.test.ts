import { EventEmitter } from 'node:events'
import { describe, expect, it } from 'vitest'
import { createClusterCounterStore, serveClusterCounters, type PrimaryChannel, type WorkerChannel } from './cluster-counter-store.js'
import { createMemoryCounterStore } from './counter-store.js'

/** Two ends of an in-memory IPC pipe, delivering asynchronously like process.send. */
function pipe() {
  const toPrimary = new EventEmitter()
  const toWorker = new EventEmitter()
  const worker = (): WorkerChannel => ({
    send: (message, _h, _o, callback) => { setImmediate(() => { toPrimary.emit('message', message); callback?.(null) }); return true },
    on: (event, listener) => toWorker.on(event, listener),
    off: (event, listener) => toWorker.off(event, listener),
  })
  const primary: PrimaryChannel = {
    on: (event, listener) => toPrimary.on(event, listener),
    send: (message) => { setImmediate(() => toWorker.emit('message', message)); return true },
    isConnected: () => true,
  }
  return { worker, primary }
}

describe('cluster counter store', () => {
  it('counts the hits of every worker in the primary', async () => {
    const shared = createMemoryCounterStore()
    const a = pipe()
    const b = pipe()
    serveClusterCounters(a.primary, shared)
    serveClusterCounters(b.primary, shared)
    const workerA = createClusterCounterStore(a.worker())
    const workerB = createClusterCounterStore(b.worker())
    expect((await workerA.hit('ip:1', 60_000)).count).toBe(1)
    expect((await workerB.hit('ip:1', 60_000)).count).toBe(2)
    const [x, y] = await Promise.all([workerA.hit('ip:1', 60_000), workerB.hit('ip:2', 60_000)])
    expect([x.count, y.count]).toEqual([3, 1])
    expect(x.resetMs).toBeGreaterThan(59_000)
    await workerA.close()
    await shared.close()
  })

  it('rejects a hit the channel could not send', async () => {
    const store = createClusterCounterStore({
      send: (_m, _h, _o, callback) => { callback?.(new Error('channel closed')); return false },
      on: () => undefined,
      off: () => undefined,
    })
    await expect(store.hit('k', 1_000)).rejects.toThrow('channel closed')
  })
})
