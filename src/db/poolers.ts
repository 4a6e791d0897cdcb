import type pg from 'pg'

/**
 * How the connections of `DATABASE_URL` reach PostgreSQL. `session`: each client connection keeps one server
 * connection (PostgreSQL itself, PgBouncer `pool_mode = session`). `transaction`: a server connection is lent
 * for one transaction only (PgBouncer `pool_mode = transaction`, most managed poolers), so nothing that lives in
 * a session — named prepared statements, LISTEN — can be relied on.
 */
export type DatabasePooler = 'session' | 'transaction'

// PgBouncer's default port and Supabase's transaction pooler: the ports operators use for a transaction pooler.
// Guessing `transaction` wrongly only costs planning time; guessing `session` wrongly fails every request.
const TRANSACTION_POOLER_PORTS = new Set(['6432', '6543'])

/** `DATABASE_POOLER` when set; otherwise `transaction` for a URL on a pooler's well-known port, else `session`. */
export function resolvePooler(explicit: DatabasePooler | undefined, databaseUrl: string | undefined): DatabasePooler {
  if (explicit) return explicit
  if (!databaseUrl) return 'session'
  return TRANSACTION_POOLER_PORTS.has(new URL(databaseUrl).port) ? 'transaction' : 'session'
}

/**
 * Makes every query on the pool's connections an unnamed statement. node-postgres prepares a query that has a
 * `name` once per client connection and afterwards only binds it; through a transaction pooler the next
 * transaction may land on a server connection that never saw it (`prepared statement "…" does not exist`) or
 * already has it (`… already exists`). Repositories keep naming their statements; only this one place drops the
 * names, so the same code serves both kinds of pooler.
 */
export function dropStatementNames(pool: pg.Pool): void {
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown
    client.query = ((config: unknown, ...rest: unknown[]) => query(withoutName(config), ...rest)) as typeof client.query
  })
}

/** `config` without its `name` (a copy), or `config` itself when it has none or is a submittable. */
export function withoutName(config: unknown): unknown {
  if (typeof config !== 'object' || config === null || !('name' in config) || !config.name) return config
  // A submittable (pg.Query, a cursor) carries its own behaviour on its prototype: never copied, never met here.
  if ('submit' in config) return config
  const { name: _dropped, ...unnamed } = config as { name: unknown }
  return unnamed
}
