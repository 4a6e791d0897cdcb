import type { Database } from '../../db/client.js'
import type { InvalidationBus } from '../../db/invalidation.js'
import { createNotifiedCache } from '../../db/notified-cache.js'
import { createMembershipReader, type MembershipResolver } from './memberships.js'
import type { Role } from './roles.js'

const keyOf = (orgId: number, userId: number) => `${orgId}:${userId}`

/**
 * Callers' roles in orgs, kept for a few seconds so an org-scoped request does not pay a second round trip, with the
 * user cache's guarantees (db/notified-cache.ts): the `keel_membership_changed` trigger (migration 0005) announces
 * every role change and removal (org deletions included, by their cascade), and writers wait for every instance.
 * Only memberships are cached, never "not a member": a new membership (an INSERT, which the trigger does not
 * announce) is seen at once everywhere.
 */
export async function createMembershipCache(
  database: Database, bus?: InvalidationBus, reader: MembershipResolver = createMembershipReader(database.db),
) {
  const cache = await createNotifiedCache<string, Role>(database, bus, { channel: 'keel_membership_changed', keyOf: (payload) => payload })
  return {
    async roleOf(orgId: number, userId: number): Promise<Role | undefined> {
      const key = keyOf(orgId, userId)
      const cached = cache.get(key)
      if (cached) return cached
      const readAt = cache.generation()
      const role = await reader.roleOf(orgId, userId)
      if (role !== undefined) cache.set(key, role, readAt)
      return role
    },
    /** After this process changed or removed a membership: the next request reads it again. */
    invalidate: (orgId: number, userId: number) => cache.forget(keyOf(orgId, userId)),
    /** After this process deleted an org: every member's entry goes (the cascade's NOTIFYs reach other processes). */
    invalidateOrg: (orgId: number) => cache.forgetWhere((key) => key.startsWith(`${orgId}:`)),
    /** Resolves once every live instance has applied the membership changes committed so far: writers await it. */
    propagated: cache.settle,
    status: () => ({ membershipCache: cache.isActive() ? 'active' as const : 'bypassed' as const, listen: cache.listenState() }),
    stats: cache.stats,
    close: cache.close,
  }
}

export type MembershipCache = Awaited<ReturnType<typeof createMembershipCache>>
