import type { Database } from '../../db/client.js'
import type { InvalidationBus } from '../../db/invalidation.js'
import { createNotifiedCache } from '../../db/notified-cache.js'
import type { PublicUser } from './users.repository.js'

export type CachedUser = PublicUser & { token_version: number }

/**
 * Users as authentication sees them, kept for a few seconds so a request costs one database round trip instead of
 * two. Correctness does not rest on the TTL: the `keel_user_changed` trigger announces every change made anywhere,
 * and the writer waits for every instance to have applied it (db/notified-cache.ts).
 */
export async function createUserCache(database: Database, bus?: InvalidationBus) {
  const cache = await createNotifiedCache<number, CachedUser>(database, bus, { channel: 'keel_user_changed', keyOf: Number })
  return {
    generation: cache.generation,
    get: cache.get,
    set: (user: CachedUser, readAt: number) => cache.set(user.id, user, readAt),
    invalidate: cache.forget,
    /**
     * After a committed change to user `id`: forgets it here, then waits until every other live instance has too,
     * so the writer's answer means the old state is refused everywhere.
     */
    async afterChange(id: number): Promise<void> {
      cache.forget(id)
      await cache.settle()
    },
    /** `active`, or `bypassed` while notifications are not known to arrive (see db/listener.ts for the state). */
    status: () => ({ userCache: cache.isActive() ? 'active' as const : 'bypassed' as const, listen: cache.listenState() }),
    stats: cache.stats,
    close: cache.close,
  }
}

export type UserCache = Awaited<ReturnType<typeof createUserCache>>
