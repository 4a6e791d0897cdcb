import type { Database, Listener } from '../../db/client.js'
import type { InvalidationBus } from '../../db/invalidation.js'
import type { PublicUser } from './users.repository.js'

export type CachedUser = PublicUser & { token_version: number }

const CHANNEL = 'keel_user_changed'
const TTL_MS = 30_000
const MAX_ENTRIES = 10_000

/**
 * Users as authentication sees them, kept for a few seconds so a request costs one database round trip
 * instead of two. Correctness does not rest on the TTL: this process drops an entry as soon as it changes
 * a user, and a trigger NOTIFYs every process (`keel_user_changed`) of any change made anywhere. While the
 * LISTEN connection is down the cache is bypassed, so a missed notification can never keep a revoked user in.
 */
export async function createUserCache(database: Database, bus?: InvalidationBus) {
  const entries = new Map<number, { user: CachedUser; expiresAt: number }>()
  // Bumped by every invalidation: a row read before a change must not be cached after it (see `set`).
  let generation = 0
  // Plain integers for /metrics (read at scrape time, so counting costs a request nothing).
  const stats = { hits: 0, misses: 0, invalidations: 0 }
  const forget = (id: number) => {
    generation++
    stats.invalidations++
    entries.delete(id)
  }
  const listen = bus ? bus.subscribe.bind(bus) : database.listen.bind(database)
  const listener: Listener = await listen(
    CHANNEL,
    (payload) => forget(Number(payload)),
    () => {
      generation++
      stats.invalidations += entries.size
      entries.clear()
    },
  )
  return {
    /** Take before reading a user from the database; pass to `set`. */
    generation: () => generation,
    get(id: number): CachedUser | undefined {
      const entry = listener.isListening() ? entries.get(id) : undefined
      if (entry && entry.expiresAt > Date.now()) {
        stats.hits++
        return entry.user
      }
      if (entry) entries.delete(id)
      stats.misses++
      return undefined
    },
    /** Caches `user` unless anything was invalidated since `readAt` (the read may predate that change). */
    set(user: CachedUser, readAt: number): void {
      if (!listener.isListening() || readAt !== generation) return
      if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!)
      entries.set(user.id, { user, expiresAt: Date.now() + TTL_MS })
    },
    invalidate: forget,
    /**
     * After a committed change to user `id`: forgets it here, then waits until every other live instance has too
     * (db/invalidation.ts), so the writer's answer means the old state is refused everywhere.
     */
    async afterChange(id: number): Promise<void> {
      forget(id)
      await bus?.settle(CHANNEL)
    },
    /** `active`, or `bypassed` while notifications are not known to arrive (see db/listener.ts for the state). */
    status: () => ({ userCache: listener.isListening() ? 'active' as const : 'bypassed' as const, listen: listener.state() }),
    stats: () => ({ ...stats }),
    close: () => listener.close(),
  }
}

export type UserCache = Awaited<ReturnType<typeof createUserCache>>
