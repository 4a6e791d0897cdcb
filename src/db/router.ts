import type pg from 'pg'
import { isDatabaseUnavailable, isRetryableRead } from './errors.js'
import type { OutageLog } from './outage.js'
import { withoutName } from './poolers.js'
import { lsnToNumber, requestDbContext, type RequestDbContext } from './request-context.js'

/** One server behind the router: its pool, what a fresh connection to it needs, its outage log. */
export interface RouteTarget {
  pool: pg.Pool
  config: pg.ClientConfig
  log: OutageLog
}

export interface RouterOptions {
  pg: typeof import('pg').default
  primary: RouteTarget
  replica?: RouteTarget | undefined
  /** A transaction pooler: fresh connections send unnamed statements too (see poolers.ts). */
  unnamed: boolean
}

type Result = pg.QueryResult

/** A statement that only reads: retrying it after a connection failure cannot repeat a change. */
function isSelect(config: unknown): boolean {
  const text = typeof config === 'string' ? config : (config as { text?: unknown } | null)?.text
  return typeof text === 'string' && /^\s*select\s/i.test(text)
}

let freshRequested = false

/**
 * Starts `start`, whose first step opens a transaction, on a connection opened for it rather than one of the pool's:
 * after a failover the pool's idle connections may all be dead (retry.ts). The request is taken by the first
 * `connect()` made while `start` runs synchronously (Drizzle's `transaction()` asks for its connection before its
 * first await); a later one takes the pool's, as without it.
 */
export function onFreshConnection<T>(start: () => Promise<T>): Promise<T> {
  freshRequested = true
  try {
    return start()
  } finally {
    freshRequested = false
  }
}

/**
 * The "pool" Drizzle is given: it sends each query to the primary or to the replica, by the request the query
 * belongs to (request-context.ts). Drizzle's node-postgres session treats a client whose class name contains
 * "Pool" as a pool: `query()` for single statements, `connect()` for transactions, which always run on the
 * primary, like everything outside a GET.
 *
 * A read goes to the replica unless the caller has a commit the replica has not replayed yet; the replay position
 * is remembered per connection, because behind a load balancer each connection may reach a different replica,
 * and it only grows on the server that connection reaches: a connection already known to be past the caller's
 * position is used without asking, otherwise one `pg_last_wal_replay_lsn()` on that very connection decides.
 * A read (any statement of a GET routed with a replica, and any single SELECT) that fails for a connection-class
 * reason (errors.ts) changed nothing, so it is tried once more, on a connection opened for it (after a failover the
 * pool's other idle connections may be as dead as the first); a GET's read on the other server: a failed replica
 * read on the primary, a failed primary read on the replica. The latter keeps authentication (which reads the
 * primary, for revocation) working while there is no primary: no revocation can be committed then, and those
 * committed before are on the synchronous standby (docs/deploy.md). A SELECT that calls a function with a side
 * effect (nextval, a lock) must run in a transaction, where nothing is retried.
 */
export class RoutingPool {
  private readonly replayed = new WeakMap<pg.PoolClient, number>()

  constructor(private readonly options: RouterOptions) {}

  connect(): Promise<pg.PoolClient> {
    const context = requestDbContext.getStore()
    if (context) context.usedPrimary = true
    if (freshRequested) {
      freshRequested = false
      return this.fresh(this.options.primary)
    }
    return this.options.primary.pool.connect()
  }

  /** A connection outside the pool, shaped as a pooled one for Drizzle's transaction: released is ended. */
  private async fresh(target: RouteTarget): Promise<pg.PoolClient> {
    const client = new this.options.pg.Client(target.config)
    client.on('error', () => undefined) // the query's own rejection reports it
    await client.connect()
    if (this.options.unnamed) {
      const query = client.query.bind(client) as (...args: unknown[]) => unknown
      client.query = ((config: unknown, ...rest: unknown[]) => query(withoutName(config), ...rest)) as typeof client.query
    }
    return Object.assign(client, { release: () => void client.end().catch(() => undefined) }) as unknown as pg.PoolClient
  }

  async query(config: unknown, values?: unknown): Promise<Result> {
    const context = requestDbContext.getStore()
    const { primary, replica } = this.options
    if (context && !context.retry) context.usedPrimary = true
    // A GET's statements (with a replica, where requests carry a context) and any single SELECT changed nothing:
    // a connection failure under them is retried once. Anything else may have committed: its failure stands.
    if (!context?.retry && !isSelect(config)) return this.run(primary, config, values)
    const onReplica = context?.replica === true && replica !== undefined
    try {
      return onReplica ? await this.readOnReplica(context, replica, config, values) : await this.run(primary, config, values)
    } catch (err) {
      if (!isRetryableRead(err)) throw err
      // A GET's read goes to the other server: the primary is always current; a replica keeps reads going while the
      // primary is away. Any other request's SELECT stays on the primary (the request may have written).
      const other = context?.retry && !onReplica && replica ? replica : primary
      return this.once(other, other === replica ? context!.minLsn : 0, config, values, err)
    }
  }

  private async run(target: RouteTarget, config: unknown, values: unknown): Promise<Result> {
    try {
      const result = await target.pool.query(config as pg.QueryConfig, values as unknown[])
      target.log.succeeded()
      return result
    } catch (err) {
      if (isDatabaseUnavailable(err)) target.log.failed(err)
      throw err
    }
  }

  private async readOnReplica(context: RequestDbContext, replica: RouteTarget, config: unknown, values: unknown): Promise<Result> {
    if (context.minLsn === 0) return this.run(replica, config, values)
    const client = await replica.pool.connect().catch((err: unknown) => {
      replica.log.failed(err)
      throw err
    })
    let current: boolean
    try {
      current = await this.hasReplayed(client, context.minLsn)
    } catch (err) {
      client.release(err as Error)
      throw err
    }
    if (!current) {
      client.release()
      // The rest of this request reads on the primary too: its queries see one state, not two.
      context.replica = false
      return this.run(this.options.primary, config, values)
    }
    try {
      const result = await client.query(config as pg.QueryConfig, values as unknown[])
      client.release()
      replica.log.succeeded()
      return result
    } catch (err) {
      client.release(err as Error)
      throw err
    }
  }

  private async hasReplayed(client: pg.PoolClient, position: number): Promise<boolean> {
    if ((this.replayed.get(client) ?? -1) >= position) return true
    const { rows } = await client.query<{ lsn: string | null }>('select pg_last_wal_replay_lsn()::text as lsn')
    // null: not a standby (promoted since this connection was opened), so it has every commit it ever received.
    const replayed = rows[0]?.lsn ? lsnToNumber(rows[0].lsn) : Number.POSITIVE_INFINITY
    this.replayed.set(client, replayed)
    return replayed >= position
  }

  /**
   * The retry of a read, over a connection opened for it. On a replica only if it has replayed `minLsn`;
   * otherwise the first failure stands (503), as a read older than the caller's own write must not be served.
   */
  private async once(target: RouteTarget, minLsn: number, config: unknown, values: unknown, first: unknown): Promise<Result> {
    const client = new this.options.pg.Client(target.config)
    client.on('error', () => undefined) // the query's own rejection reports it
    try {
      await client.connect()
      if (minLsn > 0 && !(await this.hasReplayed(client as pg.PoolClient, minLsn))) throw first
      const result = await client.query((this.options.unnamed ? withoutName(config) : config) as pg.QueryConfig, values as unknown[])
      target.log.succeeded()
      return result
    } catch (err) {
      if (err !== first && isDatabaseUnavailable(err)) target.log.failed(err)
      throw err
    } finally {
      client.end().catch(() => undefined)
    }
  }
}
