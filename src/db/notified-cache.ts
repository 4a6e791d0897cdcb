import type { Database, Listener } from './client.js'
import type { InvalidationBus } from './invalidation.js'

export interface NotifiedCacheOptions<K> {
  /** The channel a trigger NOTIFYs with the changed row's key. */
  channel: string
  /** The cache key a NOTIFY payload names. */
  keyOf(payload: string): K
  ttlMs?: number
  maxEntries?: number
}

/**
 * Rows kept in memory for a few seconds so a hot path costs no round trip, correct without relying on the TTL: a
 * trigger NOTIFYs `channel` with the key of every change made anywhere and each process drops that entry; the writer
 * forgets its own change and, through the invalidation bus (db/invalidation.ts), waits for every other live process
 * (`settle`); while LISTEN is not known to work the cache is bypassed, so a missed notification can never keep a stale
 * row. Used by the user cache and the membership cache.
 */
export async function createNotifiedCache<K, V>(database: Database, bus: InvalidationBus | undefined, options: NotifiedCacheOptions<K>) {
  const ttlMs = options.ttlMs ?? 30_000
  const maxEntries = options.maxEntries ?? 10_000
  const entries = new Map<K, { value: V; expiresAt: number }>()
  // Bumped by every invalidation: a row read before a change must not be cached after it (see `set`).
  let generation = 0
  // Plain integers for /metrics (read at scrape time, so counting costs a request nothing).
  const stats = { hits: 0, misses: 0, invalidations: 0 }
  const forget = (key: K) => {
    generation++
    stats.invalidations++
    entries.delete(key)
  }
  const listen = bus ? bus.subscribe.bind(bus) : database.listen.bind(database)
  const listener: Listener = await listen(options.channel, (payload) => forget(options.keyOf(payload)), () => {
    generation++
    stats.invalidations += entries.size
    entries.clear()
  })
  return {
    /** Take before reading a row from the database; pass to `set`. */
    generation: () => generation,
    get(key: K): V | undefined {
      const entry = listener.isListening() ? entries.get(key) : undefined
      if (entry && entry.expiresAt > Date.now()) {
        stats.hits++
        return entry.value
      }
      if (entry) entries.delete(key)
      stats.misses++
      return undefined
    },
    /** Caches `value` unless anything was invalidated since `readAt` (the read may predate that change). */
    set(key: K, value: V, readAt: number): void {
      if (!listener.isListening() || readAt !== generation) return
      if (entries.size >= maxEntries) entries.delete(entries.keys().next().value!)
      entries.set(key, { value, expiresAt: Date.now() + ttlMs })
    },
    forget,
    /** Forgets every entry whose key matches (e.g. all of a deleted org's members). */
    forgetWhere(matches: (key: K) => boolean): void {
      generation++
      for (const key of entries.keys()) if (matches(key)) forget(key)
    },
    /** After a committed change: resolves once every live process has applied the notifications committed so far. */
    settle: async (): Promise<void> => { await bus?.settle(options.channel) },
    isActive: () => listener.isListening(),
    listenState: () => listener.state(),
    stats: () => ({ ...stats }),
    close: () => listener.close(),
  }
}
