import type pg from 'pg'
import { isDatabaseUnavailable } from './errors.js'

const READ_TIMEOUT = 'Query read timeout'

/**
 * Keeps connections that must not serve another request out of the pool, and a connection dying while checked
 * out from crashing the process: a query that hit `query_timeout`, or
 * one that failed for a connection-class reason (dropped, read-only standby, server shutting down: see
 * errors.ts). `pool.query` already discards a client on any error; this covers checked-out clients
 * (transactions), whose release() is called without the error.
 *
 * A timed-out query: the timeout is the client's, the server may still be running the statement, so the ROLLBACK
 * sent after it queues behind it and times out too, and a connection released then would hand the next request
 * an open, half-done transaction. A read-only or shutting-down server: after a failover the connection still
 * reaches the old primary (now a standby, or gone), and reused it would fail every later request with 25006
 * until the process restarts, the failure mode this guard exists for.
 */
export function discardBrokenClients(pool: pg.Pool): void {
  const broken = new WeakSet<pg.PoolClient>()
  pool.on('connect', (client) => {
    // The pool listens for 'error' only while a client is idle. A checked-out one (a transaction between two
    // statements) whose server dies emits 'error' with nobody listening: an uncaught exception, the process gone.
    client.on('error', () => broken.add(client))
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    client.query = ((...args: unknown[]) => {
      const result = query(...args)
      if (result instanceof Promise) {
        result.catch((err: unknown) => {
          if ((err instanceof Error && err.message === READ_TIMEOUT) || isDatabaseUnavailable(err)) broken.add(client)
        })
      }
      return result
    }) as typeof client.query
  })
  const connect = pool.connect.bind(pool) as (...args: unknown[]) => unknown
  pool.connect = ((...args: unknown[]) => {
    if (args.length > 0) return connect(...args)
    return (connect() as Promise<pg.PoolClient>).then((client) => {
      const release = client.release
      client.release = (err?: Error | boolean) =>
        release(err || (broken.has(client) ? new Error('connection failed or timed out: discarded') : undefined))
      return client
    })
  }) as typeof pool.connect
}
