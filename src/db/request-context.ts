import { AsyncLocalStorage } from 'node:async_hooks'

/**
 * What the database layer knows about the request a query belongs to, when there is a replica to route reads to:
 * set by plugins/read-routing.ts for every request then, and for none without a replica (it would cost every
 * request the promise hooks). Queries without one (no replica; start-up, workers, the listener) go to the primary.
 */
export interface RequestDbContext {
  /** A GET or HEAD: a query that fails on a connection is retried once (it changed nothing). */
  retry: boolean
  /** Its queries may read on the replica: set once authentication is done (that reads the primary: revocation). */
  replica: boolean
  /** Read on the replica only if it has replayed this position (the caller's last commit; 0 = any replica will do). */
  minLsn: number
  /** Set by the router: this request ran something on the primary outside a read (it may have written). */
  usedPrimary: boolean
}

export const requestDbContext = new AsyncLocalStorage<RequestDbContext>()

/** `X/Y` (pg_lsn as text) as a number of bytes; exact up to 8 PiB of WAL. */
export function lsnToNumber(lsn: string): number {
  const [high = '', low = ''] = lsn.split('/')
  return Number.parseInt(high, 16) * 2 ** 32 + Number.parseInt(low, 16)
}

/**
 * Runs `read` on the primary whatever the request: a lookup that decides access (a membership, like the user read
 * by authentication) must see a removal committed a moment ago by someone else, which a caller's own commit
 * position says nothing about.
 */
export function onPrimary<T>(read: () => Promise<T>): Promise<T> {
  const context = requestDbContext.getStore()
  return context?.replica ? requestDbContext.run({ ...context, replica: false }, read) : read()
}
