import type pg from 'pg'

const READ_TIMEOUT = 'Query read timeout'

/**
 * Keeps connections whose query hit `query_timeout` out of the pool. That timeout is the client's: the server may
 * still be running the statement, so the ROLLBACK sent after it queues behind it and times out too, and a
 * connection released then would hand the next request an open, half-done transaction (its writes never
 * committed, or "current transaction is aborted"). `pool.query` already discards a client on any error; this
 * covers checked-out clients (transactions), whose release() is called without the error.
 */
export function discardTimedOutClients(pool: pg.Pool): void {
  const timedOut = new WeakSet<pg.PoolClient>()
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    client.query = ((...args: unknown[]) => {
      const result = query(...args)
      if (result instanceof Promise) {
        result.catch((err: unknown) => { if (err instanceof Error && err.message === READ_TIMEOUT) timedOut.add(client) })
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
        release(err || (timedOut.has(client) ? new Error(`${READ_TIMEOUT}: connection discarded`) : undefined))
      return client
    })
  }) as typeof pool.connect
}
