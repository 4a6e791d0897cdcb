import type { Logger } from 'pino'
import { createClusterCounterStore } from './cluster-counter-store.js'
import { createRedis, type RedisTarget } from './redis.js'

export interface Hit {
  /** Hits in the current window, this one included. */
  count: number
  /** Milliseconds until the window resets. */
  resetMs: number
}

/** Fixed-window counters behind every rate limit: in-process by default, shared through Redis for several instances. */
export interface CounterStore {
  /**
   * Counts one hit. `max`, when given, is the limit the caller will apply: a store may then answer from a lease of
   * that limit it holds locally instead of asking the shared counter every time (see cluster-counter-store.ts).
   */
  hit(key: string, windowMs: number, max?: number): Promise<Hit>
  close(): Promise<void>
}

/** A share of one window's limit handed to one process at once. */
export interface Lease {
  /** Hits granted, 0 once the limit is used up. */
  granted: number
  /** Hits counted in the window, the grant included. */
  count: number
  /** When the window ends (epoch ms): one clock for the primary and its workers, so a lease never outlives it. */
  resetAt: number
}

export interface MemoryCounterStore extends CounterStore {
  /**
   * Grants `1/parts` of what is left of `key`'s window below `max` (at least 1 while anything is left), counted at
   * once: the sum of all grants never exceeds `max`, and grants shrink as the limit nears.
   */
  reserve(key: string, windowMs: number, max: number, parts: number): Lease
  /** Gives back `hits` of a lease that went unspent, if the window it came from (`resetAt`) is still the current one. */
  release(key: string, resetAt: number, hits: number): void
  /** Removes and returns every window still open: what was counted here, to be added to a shared counter. */
  take(): { key: string; count: number; resetMs: number }[]
}

export function createMemoryCounterStore(): MemoryCounterStore {
  const windows = new Map<string, { count: number; resetAt: number }>()
  // Expired windows are swept once a minute so the map stays bounded by the clients seen recently.
  const sweeper = setInterval(() => {
    const now = Date.now()
    for (const [key, w] of windows) if (w.resetAt <= now) windows.delete(key)
  }, 60_000)
  sweeper.unref()
  const current = (key: string, windowMs: number, now: number) => {
    let w = windows.get(key)
    if (!w || w.resetAt <= now) {
      w = { count: 0, resetAt: now + windowMs }
      windows.set(key, w)
    }
    return w
  }
  return {
    async hit(key, windowMs) {
      const now = Date.now()
      const w = current(key, windowMs, now)
      w.count++
      return { count: w.count, resetMs: w.resetAt - now }
    },
    reserve(key, windowMs, max, parts) {
      const now = Date.now()
      const w = current(key, windowMs, now)
      const left = max - w.count
      const granted = left > 0 ? Math.max(1, Math.floor(left / parts)) : 0
      w.count += granted
      return { granted, count: w.count, resetAt: w.resetAt }
    },
    release(key, resetAt, hits) {
      const w = windows.get(key)
      if (w && w.resetAt === resetAt) w.count = Math.max(0, w.count - hits)
    },
    take() {
      const now = Date.now()
      const open = [...windows].filter(([, w]) => w.resetAt > now && w.count > 0).map(([key, w]) => ({ key, count: w.count, resetMs: w.resetAt - now }))
      windows.clear()
      return open
    },
    async close() {
      clearInterval(sweeper)
      windows.clear()
    },
  }
}

const HIT_SCRIPT = `
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {count, ttl}`

// Hits counted in-process while Redis was away, added to the shared counter (its window kept if it has one).
const MERGE_SCRIPT = `
local count = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return count`

interface CounterCommands {
  keelHit(key: string, windowMs: number): Promise<[number, number]>
  keelMerge(key: string, hits: number, windowMs: number): Promise<number>
}

/**
 * Redis-backed counters shared by every instance. While Redis is unreachable (a Sentinel failover takes seconds)
 * it falls back to in-process counters (limits then hold per instance) and logs a warning; it returns to Redis by
 * itself, and adds what it counted meanwhile to the shared counters, so attempts made during the failover still
 * count against the limit afterwards. What Redis itself loses in a failover (a count acknowledged by the old
 * master but not yet replicated) stays lost: docs/deploy.md.
 */
export async function createRedisCounterStore(target: RedisTarget, logger: Logger): Promise<CounterStore> {
  const redis = await createRedis(target)
  redis.defineCommand('keelHit', { numberOfKeys: 1, lua: HIT_SCRIPT })
  redis.defineCommand('keelMerge', { numberOfKeys: 1, lua: MERGE_SCRIPT })
  const commands = redis as unknown as CounterCommands
  const fallback = createMemoryCounterStore()
  let degraded = false
  /** Hands the in-process counts to Redis; those that fail stay lost (the window they limit is short). */
  const merge = async (): Promise<Map<string, number>> => {
    const taken = fallback.take()
    const merged = await Promise.allSettled(taken.map((w) => commands.keelMerge(`keel:rl:${w.key}`, w.count, w.resetMs)))
    logger.info({ windows: taken.length, merged: merged.filter((m) => m.status === 'fulfilled').length },
      'redis is reachable again: rate limits are shared again, with what was counted here meanwhile')
    return new Map(taken.map((w) => [w.key, w.count]))
  }
  return {
    async hit(key, windowMs) {
      try {
        const [count, ttl] = await commands.keelHit(`keel:rl:${key}`, windowMs)
        if (!degraded) return { count, resetMs: ttl }
        degraded = false
        // This hit was counted before the merge added this key's in-process count: the shared total is the sum.
        return { count: count + ((await merge()).get(key) ?? 0), resetMs: ttl }
      } catch (err) {
        if (!degraded) {
          degraded = true
          logger.warn({ reason: err instanceof Error ? err.message : String(err) }, 'redis unreachable: rate limits fall back to in-process counters')
        }
        return fallback.hit(key, windowMs)
      }
    },
    async close() {
      await fallback.close()
      redis.disconnect()
    },
  }
}

/**
 * Redis when configured (several instances share limits); otherwise the cluster primary's counters
 * in a worker (`inWorker`), or in-process counters.
 */
export async function createCounterStore(redis: RedisTarget | undefined, logger: Logger, inWorker = false): Promise<CounterStore> {
  if (redis) return createRedisCounterStore(redis, logger)
  return inWorker ? createClusterCounterStore() : createMemoryCounterStore()
}
