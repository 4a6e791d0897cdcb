import { describe, expect, it } from 'vitest'
import type { Database } from '../../db/client.js'
import type { InvalidationBus } from '../../db/invalidation.js'
import { createMembershipCache } from './memberships.cache.js'
import type { MembershipResolver } from './memberships.js'
import type { Role } from './roles.js'

/** The LISTEN side driven by the test, and a "database" of roles the test edits: the cache's rules are pure logic. */
function setup() {
  const handlers: { onMessage?: (p: string) => void; onReset?: () => void; listening: boolean } = { listening: true }
  const database = {
    listen: async (_channel: string, onMessage: (p: string) => void, onReset: () => void) => {
      Object.assign(handlers, { onMessage, onReset })
      return { isListening: () => handlers.listening, state: () => (handlers.listening ? 'listening' : 'connecting'), close: async () => undefined }
    },
  } as unknown as Database
  const roles = new Map<string, Role>()
  let reads = 0
  let duringRead: (() => void) | undefined
  const reader: MembershipResolver = {
    async roleOf(orgId, userId) {
      reads++
      const role = roles.get(`${orgId}:${userId}`)
      duringRead?.()
      return role
    },
  }
  return { database, handlers, roles, reader, reads: () => reads, setDuringRead: (fn?: () => void) => { duringRead = fn } }
}

describe('membership cache', () => {
  it('serves a role from memory until its NOTIFY, then reads it again', async () => {
    const s = setup()
    const cache = await createMembershipCache(s.database, undefined, s.reader)
    s.roles.set('1:2', 'admin')
    expect(await cache.roleOf(1, 2)).toBe('admin')
    s.roles.set('1:2', 'viewer')
    expect(await cache.roleOf(1, 2)).toBe('admin')
    expect(s.reads()).toBe(1)
    s.handlers.onMessage!('1:2')
    expect(await cache.roleOf(1, 2)).toBe('viewer')
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 2, invalidations: 1 })
  })

  it('never caches "not a member": a new membership is seen at once', async () => {
    const s = setup()
    const cache = await createMembershipCache(s.database, undefined, s.reader)
    expect(await cache.roleOf(1, 3)).toBeUndefined()
    s.roles.set('1:3', 'member')
    expect(await cache.roleOf(1, 3)).toBe('member')
  })

  it('is bypassed while LISTEN is down, and starts from nothing on a reset', async () => {
    const s = setup()
    const cache = await createMembershipCache(s.database, undefined, s.reader)
    s.roles.set('1:2', 'owner')
    await cache.roleOf(1, 2)
    s.handlers.listening = false
    expect(cache.status()).toEqual({ membershipCache: 'bypassed', listen: 'connecting' })
    s.roles.set('1:2', 'member')
    expect(await cache.roleOf(1, 2)).toBe('member')
    s.handlers.listening = true
    s.handlers.onReset!()
    s.roles.set('1:2', 'viewer')
    expect(await cache.roleOf(1, 2)).toBe('viewer')
    expect(cache.status().membershipCache).toBe('active')
  })

  it('forgets on local invalidation, of one member or of a whole org', async () => {
    const s = setup()
    const cache = await createMembershipCache(s.database, undefined, s.reader)
    for (const key of ['1:2', '1:3', '2:2']) s.roles.set(key, 'admin')
    for (const [org, user] of [[1, 2], [1, 3], [2, 2]] as const) await cache.roleOf(org, user)
    s.roles.clear()
    cache.invalidate(1, 2)
    expect(await cache.roleOf(1, 2)).toBeUndefined()
    expect(await cache.roleOf(1, 3)).toBe('admin')
    cache.invalidateOrg(1)
    expect(await cache.roleOf(1, 3)).toBeUndefined()
    expect(await cache.roleOf(2, 2)).toBe('admin')
    await cache.close()
  })

  it('does not cache a role read before an invalidation that landed during the read', async () => {
    const s = setup()
    const cache = await createMembershipCache(s.database, undefined, s.reader)
    s.roles.set('1:2', 'owner')
    s.setDuringRead(() => s.handlers.onMessage!('1:2'))
    expect(await cache.roleOf(1, 2)).toBe('owner')
    s.setDuringRead()
    s.roles.set('1:2', 'viewer')
    expect(await cache.roleOf(1, 2)).toBe('viewer')
  })
})

describe('across instances: the invalidation bus', () => {
  it('listens through the bus, and a writer waits for the bus to settle its channel', async () => {
    const s = setup()
    const settled: string[] = []
    const bus = {
      subscribe: s.database.listen.bind(s.database),
      settle: async (channel: string) => { settled.push(channel) },
    } as unknown as InvalidationBus
    const cache = await createMembershipCache(s.database, bus, s.reader)
    s.roles.set('1:2', 'admin')
    await cache.roleOf(1, 2)
    s.roles.set('1:2', 'viewer')
    s.handlers.onMessage!('1:2')
    expect(await cache.roleOf(1, 2)).toBe('viewer')
    await cache.propagated()
    expect(settled).toEqual(['keel_membership_changed'])
  })
})
