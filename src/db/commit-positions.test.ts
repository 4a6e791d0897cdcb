import pino from 'pino'
import { describe, expect, it } from 'vitest'
import { createMemoryCommitPositions, createRedisCommitPositions, REMEMBER_MS } from './commit-positions.js'
import { lsnToNumber } from './request-context.js'

const silent = pino({ level: 'silent' })

describe('commit positions (read-your-writes)', () => {
  it('pg_lsn text as bytes', () => {
    expect(lsnToNumber('0/16B3748')).toBe(0x16b3748)
    expect(lsnToNumber('1/0')).toBe(2 ** 32)
  })

  it('in memory: only ever raised, forgotten after REMEMBER_MS', async () => {
    let now = 1_000
    const positions = createMemoryCommitPositions(() => now)
    expect(await positions.get('7')).toBe(0)
    await positions.raise('7', 500)
    await positions.raise('7', 300)
    expect(await positions.get('7')).toBe(500)
    now += REMEMBER_MS
    expect(await positions.get('7')).toBe(0)
    await positions.close()
  })

  it('Redis unreachable: a caller\'s reads are sent to the primary (unknown position), never to a replica that may be behind', async () => {
    const positions = await createRedisCommitPositions({ url: 'redis://127.0.0.1:9' }, silent)
    await positions.raise('7', 500)
    expect(await positions.get('7')).toBe(Number.MAX_SAFE_INTEGER)
    await positions.close()
  })
})

describe.skipIf(!process.env.TEST_REDIS_URL && process.env.CI !== 'true')('commit positions in Redis', () => {
  it('a position raised by one instance is seen by another, and never lowered', async () => {
    const url = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
    const [a, b] = [await createRedisCommitPositions({ url }, silent), await createRedisCommitPositions({ url }, silent)]
    const caller = `test-${Date.now()}-${Math.random()}`
    await a.raise(caller, 900)
    await b.raise(caller, 400)
    expect(await b.get(caller)).toBe(900)
    await Promise.all([a.close(), b.close()])
  })
})
