import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../db/client.js'
import { createMigrator } from '../../db/migrator.js'
import { users } from '../../db/schema.js'
import { createTestDatabase } from '../../../test/helpers/database.js'
import { uniqueEmail } from '../../../test/helpers/factories.js'
import { emailTokens } from './email-tokens.table.js'
import { createEmailTokensRepository, hashEmailToken } from './email-tokens.repository.js'

let database: Database
let drop: () => Promise<void>
beforeAll(async () => {
  ({ database, drop } = await createTestDatabase())
  await createMigrator(database).migrate()
})
afterAll(async () => drop())

/** A clock the test moves by hand. */
function testClock(start = Date.now()) {
  let now = start
  return { clock: () => new Date(now), advance: (seconds: number) => { now += seconds * 1000 } }
}

async function newUser() {
  const email = uniqueEmail()
  const [row] = await database.db.insert(users).values({ email, hashed_password: 'x' }).returning({ id: users.id })
  return { id: row!.id, email }
}

describe('email tokens', () => {
  it('are 32 random bytes in base64url, stored only as SHA-256', async () => {
    const user = await newUser()
    const token = await createEmailTokensRepository(database.db).issue({ userId: user.id, purpose: 'password_reset', email: user.email, ttlSeconds: 60 })
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(Buffer.from(token, 'base64url')).toHaveLength(32)
    const rows = await database.db.select().from(emailTokens).where(eq(emailTokens.user_id, user.id))
    expect(rows).toEqual([expect.objectContaining({ token_hash: hashEmailToken(token), purpose: 'password_reset', email: user.email, used_at: null })])
    expect(JSON.stringify(rows)).not.toContain(token)
  })

  it('are single use, even when two consumers race', async () => {
    const user = await newUser()
    const tokens = createEmailTokensRepository(database.db)
    const token = await tokens.issue({ userId: user.id, purpose: 'email_verification', email: user.email, ttlSeconds: 60 })
    const results = await Promise.all([tokens.consume(token, 'email_verification'), tokens.consume(token, 'email_verification')])
    expect(results.filter(Boolean)).toEqual([{ user_id: user.id, email: user.email }])
    expect(await tokens.consume(token, 'email_verification')).toBeUndefined()
    expect(await tokens.peek(token, 'email_verification')).toBeUndefined()
  })

  it('expire: accepted until their lifetime ends on the injected clock, refused after', async () => {
    const user = await newUser()
    const time = testClock()
    const tokens = createEmailTokensRepository(database.db, time.clock)
    const token = await tokens.issue({ userId: user.id, purpose: 'password_reset', email: user.email, ttlSeconds: 1800 })
    time.advance(1799)
    expect(await tokens.peek(token, 'password_reset')).toEqual({ user_id: user.id, email: user.email })
    time.advance(1)
    expect(await tokens.peek(token, 'password_reset')).toBeUndefined()
    expect(await tokens.consume(token, 'password_reset')).toBeUndefined()
  })

  it('have one purpose each: a token of one purpose is unknown to another', async () => {
    const user = await newUser()
    const tokens = createEmailTokensRepository(database.db)
    const token = await tokens.issue({ userId: user.id, purpose: 'email_verification', email: user.email, ttlSeconds: 60 })
    expect(await tokens.consume(token, 'password_reset')).toBeUndefined()
    expect(await tokens.consume(token, 'email_change')).toBeUndefined()
    expect(await tokens.consume(token, 'email_verification')).toMatchObject({ user_id: user.id })
  })

  it('a new token kills the older ones of its purpose, not those of other purposes or users', async () => {
    const [user, other] = [await newUser(), await newUser()]
    const tokens = createEmailTokensRepository(database.db)
    const issue = (userId: number, purpose: 'password_reset' | 'email_verification') => tokens.issue({ userId, purpose, email: 'x@example.com', ttlSeconds: 60 })
    const first = await issue(user.id, 'password_reset')
    const verification = await issue(user.id, 'email_verification')
    const others = await issue(other.id, 'password_reset')
    const second = await issue(user.id, 'password_reset')
    expect(await tokens.peek(first, 'password_reset')).toBeUndefined()
    expect(await tokens.peek(second, 'password_reset')).toBeDefined()
    expect(await tokens.peek(verification, 'email_verification')).toBeDefined()
    expect(await tokens.peek(others, 'password_reset')).toBeDefined()
    await tokens.revoke(user.id, 'password_reset')
    expect(await tokens.peek(second, 'password_reset')).toBeUndefined()
  })

  it('an unknown or malformed token is simply not found', async () => {
    const tokens = createEmailTokensRepository(database.db)
    for (const token of ['', 'x', 'A'.repeat(43), '%00\' OR 1=1 --']) expect(await tokens.consume(token, 'password_reset')).toBeUndefined()
  })
})

describe('email token clean-up', () => {
  it('drops tokens expired or used more than a day ago, keeps the rest', async () => {
    const user = await newUser()
    const time = testClock()
    const tokens = createEmailTokensRepository(database.db, time.clock)
    const issue = (purpose: 'password_reset' | 'email_verification' | 'email_change', ttlSeconds: number) =>
      tokens.issue({ userId: user.id, purpose, email: user.email, ttlSeconds }, database.db)
    await issue('password_reset', 60)
    const used = await issue('email_verification', 3 * 86_400)
    await tokens.consume(used, 'email_verification')
    const live = await issue('email_change', 3 * 86_400)
    time.advance(86_400 + 120)
    await tokens.sweepDead()
    const left = await database.db.select({ purpose: emailTokens.purpose }).from(emailTokens).where(eq(emailTokens.user_id, user.id))
    expect(left.map((r) => r.purpose)).toEqual(['email_change'])
    expect(await tokens.peek(live, 'email_change')).toBeDefined()
  })
})
