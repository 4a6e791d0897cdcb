import { EventEmitter } from 'node:events'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createClusterCounterStore, serveClusterCounters, type PrimaryChannel, type WorkerChannel } from './cluster-counter-store.js'
import { createMemoryCounterStore } from './counter-store.js'

/** Two ends of an in-memory IPC pipe, delivering asynchronously like process.send; counts what the worker sends. */
function pipe() {
  const toPrimary = new EventEmitter()
  const toWorker = new EventEmitter()
  const sent = { count: 0 }
  const worker = (): WorkerChannel => ({
    send: (message, _h, _o, callback) => { sent.count++; setImmediate(() => { toPrimary.emit('message', message); callback?.(null) }); return true },
    on: (event, listener) => toWorker.on(event, listener),
    off: (event, listener) => toWorker.off(event, listener),
  })
  const primary: PrimaryChannel = {
    on: (event, listener) => toPrimary.on(event, listener),
    send: (message) => { setImmediate(() => toWorker.emit('message', message)); return true },
    isConnected: () => true,
  }
  return { worker, primary, sent }
}

afterEach(() => { vi.useRealTimers() })

/** A primary's store with two workers talking to it over in-memory pipes. */
function twoWorkers() {
  const shared = createMemoryCounterStore()
  const [a, b] = [pipe(), pipe()]
  serveClusterCounters(a.primary, shared, 2)
  serveClusterCounters(b.primary, shared, 2)
  return { shared, a, b, workerA: createClusterCounterStore(a.worker()), workerB: createClusterCounterStore(b.worker()) }
}

describe('cluster counter store', () => {
  it('counts the hits of every worker in the primary', async () => {
    const shared = createMemoryCounterStore()
    const a = pipe()
    const b = pipe()
    serveClusterCounters(a.primary, shared, 2)
    serveClusterCounters(b.primary, shared, 2)
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

  it('answers limited hits from leases: far fewer round trips, never more than max allowed across workers', async () => {
    const { shared, a, b, workerA, workerB } = twoWorkers()
    const max = 600
    // Both workers hammer one client's window, concurrently, well past the limit.
    const hits = await Promise.all(Array.from({ length: 800 }, (_, i) => (i % 2 ? workerA : workerB).hit('ip:1', 60_000, max)))
    const allowed = hits.filter((h) => h.count <= max)
    expect(allowed).toHaveLength(max)
    expect(hits.filter((h) => h.count > max).every((h) => h.resetMs > 59_000)).toBe(true)
    // 800 hits cost a few dozen lease requests, not 800.
    expect(a.sent.count + b.sent.count).toBeLessThan(100)
    // A refused window is answered locally until it resets: no more round trips.
    const before = a.sent.count
    expect((await workerA.hit('ip:1', 60_000, max)).count).toBe(max + 1)
    expect(a.sent.count).toBe(before)
    await Promise.all([workerA.close(), workerB.close(), shared.close()])
  })

  it('counts a small limit exactly: one client alternating between workers gets exactly max', async () => {
    const { shared, workerA, workerB } = twoWorkers()
    const counts = []
    for (let i = 0; i < 8; i++) counts.push((await (i % 2 ? workerA : workerB).hit('ip:2', 60_000, 6)).count)
    expect(counts).toEqual([1, 2, 3, 4, 5, 6, 7, 7])
    await Promise.all([workerA.close(), workerB.close(), shared.close()])
  })

  it('takes a new lease when the window resets', async () => {
    vi.useFakeTimers({ toFake: ['Date'] })
    const shared = createMemoryCounterStore()
    const a = pipe()
    serveClusterCounters(a.primary, shared, 1)
    const worker = createClusterCounterStore(a.worker())
    for (let i = 0; i < 4; i++) await worker.hit('ip:3', 1_000, 4)
    expect((await worker.hit('ip:3', 1_000, 4)).count).toBe(5)
    vi.setSystemTime(Date.now() + 1_001)
    expect((await worker.hit('ip:3', 1_000, 4)).count).toBe(1)
    await Promise.all([worker.close(), shared.close()])
  })

  it('counts in the worker when the primary cannot be reached, instead of failing the request', async () => {
    const store = createClusterCounterStore({
      send: (_m, _h, _o, callback) => { callback?.(new Error('channel closed')); return false },
      on: () => undefined,
      off: () => undefined,
    })
    expect((await store.hit('k', 1_000)).count).toBe(1)
    expect((await store.hit('k', 1_000, 10)).count).toBe(2)
    await store.close()
  })

  it('gives back what an idle lease did not spend, so a client moving to another worker gets its whole limit', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setInterval'] })
    const { shared, workerA, workerB } = twoWorkers()
    const max = 100
    let allowed = 0
    const hitA = async (times: number) => {
      for (let i = 0; i < times; i++) if ((await workerA.hit('ip:4', 60_000, max)).count <= max) allowed++
    }
    // One request through B leases a share of the window; every later one goes to A.
    if ((await workerB.hit('ip:4', 60_000, max)).count <= max) allowed++
    await hitA(150)
    expect(allowed).toBeLessThan(max) // B still holds the rest of its lease
    vi.advanceTimersByTime(1_100) // B's lease is idle for a second: its sweeper gives it back
    await new Promise((resolve) => setImmediate(resolve))
    await hitA(150)
    expect(allowed).toBe(max)
    await Promise.all([workerA.close(), workerB.close(), shared.close()])
  })
})
