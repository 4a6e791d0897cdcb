import { randomBytes } from 'node:crypto'
import { sql } from 'drizzle-orm'
import type { Database, Listener } from '../../db/client.js'
import { createMembershipReader, type MembershipResolver } from './memberships.js'
import type { Role } from './roles.js'

const TTL_MS = 30_000
const MAX_ENTRIES = 10_000

const keyOf = (orgId: number, userId: number) => `${orgId}:${userId}`
const CHANNEL = 'keel_membership_changed'
const SYNC = 'sync:'
const ACK = 'ack:'

/**
 * Callers' roles in orgs, kept for a few seconds so an org-scoped request does not pay a second round trip.
 * Built like the user cache (users.cache.ts): correctness does not rest on the TTL. This process forgets what it
 * changes before answering, the `keel_membership_changed` trigger (migration 0005) NOTIFYs every process of every
 * role change and removal (org deletions included, by their cascade), and while LISTEN is down the cache is
 * bypassed. Only memberships are cached, never "not a member": a new membership (an INSERT, which the trigger does
 * not announce) is seen at once everywhere.
 */
export async function createMembershipCache(database: Database, reader: MembershipResolver = createMembershipReader(database.db)) {
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
  // Writers waiting for every instance to confirm it has applied their change (see `propagated`).
  const syncs = new Map<string, { acks: number; need: number; done: () => void }>()
  const notify = (payload: string) => database.db.execute(sql`select pg_notify(${CHANNEL}, ${payload})`)
  const onMessage = (payload: string) => {
    if (payload.startsWith(SYNC)) {
      // Notifications reach a session in commit order: this one arriving means every change before it was applied here.
      notify(ACK + payload.slice(SYNC.length)).catch(() => undefined)
    } else if (payload.startsWith(ACK)) {
      const sync = syncs.get(payload.slice(ACK.length))
      if (sync && ++sync.acks >= sync.need) sync.done()
    } else {
      forget(payload)
    }
  }
  const listener: Listener = await database.listen('keel_membership_changed', onMessage, forgetAll)

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
     * Resolves once every Keel instance listening on this database has applied the membership changes this process
     * committed so far (at most `timeoutMs`). Writers await it before answering, so the client's next request, on any
     * instance, meets the change: a NOTIFY alone reaches other instances some milliseconds later. The instances are
     * the sessions whose last statement was this channel's LISTEN (pg_stat_activity); each answers a `sync:` marker
     * with an `ack:` once the marker, and so every change committed before it, has arrived. The embedded engine is one
     * process, whose listeners run before the writer's transaction resolves: nothing to wait for.
     */
    async propagated(timeoutMs = 2_000): Promise<void> {
      if (database.engine === 'pglite' || !listener.isListening()) return
      const nonce = randomBytes(9).toString('base64url')
      let timer: NodeJS.Timeout | undefined
      try {
        const { rows } = await database.db.execute(sql`select count(*)::int as n from pg_stat_activity
          where datname = current_database() and query = ${`LISTEN ${CHANNEL}`}`) as unknown as { rows: { n: number }[] }
        await new Promise<void>((resolve) => {
          syncs.set(nonce, { acks: 0, need: Number(rows[0]?.n ?? 1), done: resolve })
          timer = setTimeout(resolve, timeoutMs)
          notify(SYNC + nonce).catch(() => resolve())
        })
      } finally {
        clearTimeout(timer)
        syncs.delete(nonce)
      }
    },
    status: () => ({ membershipCache: listener.isListening() ? 'active' as const : 'bypassed' as const, listen: listener.state() }),
    stats: () => ({ ...stats }),
    close: () => listener.close(),
  }
}

export type MembershipCache = Awaited<ReturnType<typeof createMembershipCache>>
