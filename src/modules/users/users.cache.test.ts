import { describe, expect, it } from 'vitest'
import type { Database } from '../../db/client.js'
import { createUserCache, type CachedUser } from './users.cache.js'

/** Only the LISTEN side of a database, driven by the test: the cache's rules are pure logic. */
function listenerStub() {
  const handlers: { onMessage?: (p: string) => void; onReset?: () => void; listening: boolean } = { listening: true }
  const database = {
    listen: async (_channel: string, onMessage: (p: string) => void, onReset: () => void) => {
      Object.assign(handlers, { onMessage, onReset })
      return { isListening: () => handlers.listening, state: () => (handlers.listening ? 'listening' : 'silent'), close: async () => undefined }
    },
  } as unknown as Database
  return { database, handlers }
}

const user = (id: number): CachedUser => ({
  id, email: `${id}@example.com`, full_name: null, is_active: true, is_superuser: false, email_verified: false, created_at: new Date(), updated_at: null, token_version: 0,
})

describe('user cache', () => {
  it('drops an entry on its NOTIFY and everything on a reset', async () => {
    const { database, handlers } = listenerStub()
    const cache = await createUserCache(database)
    cache.set(user(1), cache.generation())
    cache.set(user(2), cache.generation())
    handlers.onMessage!('1')
    expect(cache.get(1)).toBeUndefined()
    expect(cache.get(2)).toMatchObject({ id: 2 })
    handlers.onReset!()
    expect(cache.get(2)).toBeUndefined()
  })

  it('is bypassed while notifications are not being received', async () => {
    const { database, handlers } = listenerStub()
    const cache = await createUserCache(database)
    cache.set(user(1), cache.generation())
    handlers.listening = false
    expect(cache.get(1)).toBeUndefined()
    cache.set(user(3), cache.generation())
    handlers.listening = true
    expect(cache.get(3)).toBeUndefined()
  })

  it('forgets on invalidate', async () => {
    const cache = await createUserCache(listenerStub().database)
    cache.set(user(1), cache.generation())
    cache.invalidate(1)
    expect(cache.get(1)).toBeUndefined()
  })

  it('does not cache a row read before an invalidation that landed during the read', async () => {
    const { database, handlers } = listenerStub()
    const cache = await createUserCache(database)
    const readAt = cache.generation()
    handlers.onMessage!('7') // the change commits while our SELECT is in flight
    cache.set(user(7), readAt)
    expect(cache.get(7)).toBeUndefined()
  })
})
