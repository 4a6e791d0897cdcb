import { once } from 'node:events'
import type { Redis, RedisOptions } from 'ioredis'

/** Where the shared Redis is: one URL (REDIS_URL), or a master found through Sentinel (REDIS_SENTINELS). */
export type RedisTarget =
  | { readonly url: string }
  | { readonly sentinels: readonly { readonly host: string; readonly port: number }[]; readonly name: string }

/** `host:port,host:port` (REDIS_SENTINELS) as ioredis wants it; undefined when an entry is malformed. */
export function parseSentinels(list: string): { host: string; port: number }[] | undefined {
  const sentinels = list.split(',').map((s) => s.trim()).filter(Boolean).map((entry) => {
    const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(entry)
    const port = Number(match?.[2])
    return match && port > 0 && port < 65_536 ? { host: match[1]!.replace(/^\[|\]$/g, ''), port } : undefined
  })
  return sentinels.length > 0 && sentinels.every(Boolean) ? sentinels as { host: string; port: number }[] : undefined
}

/**
 * A Redis connection, ready or given up on after a second, that fails fast while Redis is away (callers fall back to
 * something local) and finds a new master by itself: through Sentinel, ioredis asks the sentinels for the current
 * master on every reconnect. A failover reaches the client as a closed connection (the old master died, or the
 * sentinels made it a replica and killed its clients) or, should a connection survive that, as READONLY errors,
 * on which it reconnects.
 *
 * Not ioredis' `failoverDetector`: its subscription to `+switch-master` outlives the connection it watches, and a
 * switch announced while the client is already reconnecting aborts that reconnection for good (status `end`,
 * "Connection is closed"): in 1 of 10 kills of the master in a test of it, and in test:ha at 04:19, the instance
 * never used Redis again. It is off by default in ioredis for connection leaks of the same kind (ioredis#1363).
 */
export async function createRedis(target: RedisTarget): Promise<Redis> {
  const { Redis } = await import('ioredis') // loaded only when Redis is configured
  const common: RedisOptions = {
    enableOfflineQueue: false, // fail fast instead of queueing while disconnected
    maxRetriesPerRequest: 1,
    connectTimeout: 1_000,
    commandTimeout: 500,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  }
  const redis = 'url' in target ? new Redis(target.url, common) : new Redis({
    ...common,
    sentinels: target.sentinels.map((s) => ({ ...s })),
    name: target.name,
    reconnectOnError: (err) => err.message.startsWith('READONLY'),
    sentinelRetryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  })
  redis.on('error', () => undefined) // callers report failures once per outage, not once per retry
  // Give Redis a moment at start, so the first requests use the shared store, not the local fallback.
  await Promise.race([once(redis, 'ready').catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 1_000).unref())])
  return redis
}
