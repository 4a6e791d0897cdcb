import type { Logger } from 'pino'
import { createRedis, type RedisTarget } from '../shared/redis.js'

/**
 * Each caller's last commit position (WAL bytes), for read-your-writes on replicas. In Redis when configured, so
 * a write acknowledged by instance A holds back the caller's next read on instance B; in process otherwise, which
 * is only correct for one instance (docs/deploy.md).
 */
export interface CommitPositions {
  /** The highest position raised for `caller` in the last `REMEMBER_MS`; 0 when none. */
  get(caller: string): Promise<number>
  /** Records `position` unless a higher one is already known. */
  raise(caller: string, position: number): Promise<void>
  close(): Promise<void>
}

/**
 * How long a position is remembered: far longer than a healthy replica lags (milliseconds). A replica further
 * behind than this should not be serving at all: HAProxy's `/replica?lag=…` check takes it out (docs/deploy.md).
 */
export const REMEMBER_MS = 300_000
/** What `get` answers when the shared store cannot be asked: no replica has replayed it, so the primary reads. */
const UNKNOWN = Number.MAX_SAFE_INTEGER

export function createMemoryCommitPositions(now = () => Date.now()): CommitPositions {
  const positions = new Map<string, { position: number; expires: number }>()
  const sweeper = setInterval(() => {
    const at = now()
    for (const [key, entry] of positions) if (entry.expires <= at) positions.delete(key)
  }, 60_000)
  sweeper.unref()
  return {
    async get(caller) {
      const entry = positions.get(caller)
      return entry && entry.expires > now() ? entry.position : 0
    },
    async raise(caller, position) {
      const entry = positions.get(caller)
      const known = entry && entry.expires > now() ? entry.position : 0
      positions.set(caller, { position: Math.max(known, position), expires: now() + REMEMBER_MS })
    },
    async close() {
      clearInterval(sweeper)
    },
  }
}

// Positions are below 2^53, exact in Lua's doubles.
const RAISE_SCRIPT = `
local known = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > known then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 1`

/**
 * Shared positions, with this process's own as a floor: if Redis missed a raise, this instance still knows it.
 * While Redis cannot be asked, `get` answers "unknown" and the caller reads on the primary: slower, never stale.
 */
export async function createRedisCommitPositions(target: RedisTarget, logger: Logger): Promise<CommitPositions> {
  const redis = await createRedis(target)
  redis.defineCommand('keelRaise', { numberOfKeys: 1, lua: RAISE_SCRIPT })
  const local = createMemoryCommitPositions()
  let degraded = false
  const failed = (err: unknown) => {
    if (degraded) return
    degraded = true
    logger.warn({ err }, 'redis unreachable: reads of callers with recent writes go to the primary')
  }
  const ok = () => {
    if (!degraded) return
    degraded = false
    logger.info('redis is reachable again: read-your-writes positions are shared again')
  }
  return {
    async get(caller) {
      try {
        const shared = Number(await redis.get(`keel:lsn:${caller}`) ?? 0)
        ok()
        return Math.max(shared, await local.get(caller))
      } catch (err) {
        failed(err)
        return UNKNOWN
      }
    },
    async raise(caller, position) {
      await local.raise(caller, position)
      try {
        await (redis as unknown as { keelRaise(k: string, p: number, ttl: number): Promise<number> })
          .keelRaise(`keel:lsn:${caller}`, position, REMEMBER_MS)
        ok()
      } catch (err) {
        failed(err)
      }
    },
    async close() {
      await local.close()
      redis.disconnect()
    },
  }
}

/** Redis when configured (several instances); otherwise this process's memory, correct for one instance only. */
export async function createCommitPositions(redis: RedisTarget | undefined, logger: Logger): Promise<CommitPositions> {
  return redis ? createRedisCommitPositions(redis, logger) : createMemoryCommitPositions()
}
