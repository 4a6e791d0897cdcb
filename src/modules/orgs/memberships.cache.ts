import type { Database, Listener } from '../../db/client.js'
import type { InvalidationBus } from '../../db/invalidation.js'
import { createMembershipReader, type MembershipResolver } from './memberships.js'
import type { Role } from './roles.js'

const TTL_MS = 30_000
const MAX_ENTRIES = 10_000

const keyOf = (orgId: number, userId: number) => `${orgId}:${userId}`
const CHANNEL = 'keel_membership_changed'

/**
 * Callers' roles in orgs, kept for a few seconds so an org-scoped request does not pay a second round trip.
 * Built like the user cache (users.cache.ts): correctness does not rest on the TTL. This process forgets what it
 * changes before answering, the `keel_membership_changed` trigger (migration 0005) NOTIFYs every process of every
 * role change and removal (org deletions included, by their cascade), and while LISTEN is down the cache is
 * bypassed. Only memberships are cached, never "not a member": a new membership (an INSERT, which the trigger does
 * not announce) is seen at once everywhere. Cross-instance delivery and the writer's wait are the invalidation bus's
 * (db/invalidation.ts), shared with the user cache.
 */
export async function createMembershipCache(
  database: Database, bus?: InvalidationBus, reader: MembershipResolver = createMembershipReader(database.db),
) {
  const entries = new Map<string, { role: Role; expiresAt: number }>()
  // Bumped by every invalidation: a role read before a change must not be cached after it.
  let generation = 0
  const stats = { hits: 0, misses: 0, invalidations: 0 }
  const forget = (key: string) => {
    generation++
    stats.invalidations++
    entries.delete(key)
  }
  const forgetAll = () => {
    generation++
    stats.invalidations += entries.size
    entries.clear()
  }
  const listen = bus ? bus.subscribe.bind(bus) : database.listen.bind(database)
  const listener: Listener = await listen(CHANNEL, forget, forgetAll)

  return {
    async roleOf(orgId: number, userId: number): Promise<Role | undefined> {
      const key = keyOf(orgId, userId)
      const entry = listener.isListening() ? entries.get(key) : undefined
      if (entry && entry.expiresAt > Date.now()) {
        stats.hits++
        return entry.role
      }
      if (entry) entries.delete(key)
      stats.misses++
      const readAt = generation
      const role = await reader.roleOf(orgId, userId)
      if (role !== undefined && listener.isListening() && readAt === generation) {
        if (entries.size >= MAX_ENTRIES) entries.delete(entries.keys().next().value!)
        entries.set(key, { role, expiresAt: Date.now() + TTL_MS })
      }
      return role
    },
    /** After this process changed or removed a membership: the next request reads it again. */
    invalidate: (orgId: number, userId: number) => forget(keyOf(orgId, userId)),
    /** After this process deleted an org: every member's entry goes (the cascade's NOTIFYs reach other processes). */
    invalidateOrg(orgId: number): void {
      generation++
      for (const key of entries.keys()) if (key.startsWith(`${orgId}:`)) forget(key)
    },
    /**
     * Resolves once every live Keel instance has applied the membership changes committed so far (db/invalidation.ts):
     * writers await it before answering, so the client's next request, on any instance, meets the change.
     */
    propagated: async (): Promise<void> => { await bus?.settle(CHANNEL) },
    status: () => ({ membershipCache: listener.isListening() ? 'active' as const : 'bypassed' as const, listen: listener.state() }),
    stats: () => ({ ...stats }),
    close: () => listener.close(),
  }
}

export type MembershipCache = Awaited<ReturnType<typeof createMembershipCache>>
