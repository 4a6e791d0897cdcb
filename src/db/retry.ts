import { isRetryableRead } from './errors.js'
import { onFreshConnection } from './router.js'

/**
 * Runs `write` once more when it failed for a failover's reason: the connection refused or cut, a standby's read-only
 * refusal (25006), a server shutting down (not a timeout: the server may still be running the first). Only for a
 * write that is safe to repeat, which SPEC §10 names: a create under an Idempotency-Key. If the first did commit
 * (the connection was cut after COMMIT reached the server) the repeat finds its kept answer and replays it; if not,
 * it creates. The repeat's transaction runs on a connection opened for it (router.ts): after a failover the pool's
 * other idle connections may be as dead as the first.
 */
export async function retryOnFailover<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write()
  } catch (err) {
    if (!isRetryableRead(err)) throw err
    return onFreshConnection(write)
  }
}
