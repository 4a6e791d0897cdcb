import { sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { onPrimary } from '../../db/request-context.js'

/** One look at the database: the snapshot's xmin (xid8, as bigint), the last event id handed out, and a fresh xid. */
export interface Observation {
  xmin: bigint
  lastId: number
  /** An xid assigned to the observation itself, after every earlier observation's read of the sequence (when asked). */
  xid?: bigint
}

/**
 * Where reading the event log is safe up to. Event ids are taken from a sequence before their transactions commit,
 * so a later-committing transaction can hold a smaller id: a reader that moved past a gap would skip that event
 * for good. The horizon is an id below which every event is final (committed or rolled back).
 *
 * A transaction holding an id not above the `lastId` of observation r wrote its row before that read, so it had its
 * xid by then. A later observation gets an xid of its own, N, assigned after that read: every such transaction's xid
 * is below N. Once a snapshot's xmin reaches N, none of them runs any more (a running xid below the snapshot's xmax is
 * in its list, and xmin ≤ xmax ≤ N otherwise), and `lastId` of r is the horizon.
 *
 * The snapshot's xmax alone is not such a bound: it is the latest *completed* xid + 1, and a running transaction with
 * the newest xid is in no snapshot's list (xmin = xmax = its xid while it runs). A horizon built on it moved past the
 * event of a transaction that stayed open across two polls (events.delivery.test.ts, PostgreSQL).
 *
 * The xid is only asked for while some id is not final yet, so an idle log takes none: at most one per round (every
 * 20 ms while streams wait, else 200 ms), in practice one or two per burst of writes.
 *
 * Two things the argument rests on: the events sequence hands out ids one at a time (no CACHE), and an event is only
 * inserted after its transaction wrote a row (the trigger), so the transaction has its xid before it takes an id.
 */
export function createHorizon() {
  const pending: { lastId: number; needXmin: bigint }[] = []
  // The newest id seen that no pending entry covers yet: it waits for an observation's xid.
  let unmarked = 0
  let seen = 0
  let horizon = 0
  return {
    /** Feeds one observation; returns the (never decreasing) horizon. */
    observe({ xmin, lastId, xid }: Observation): number {
      if (xid !== undefined && unmarked > horizon) {
        pending.push({ lastId: unmarked, needXmin: xid })
        unmarked = 0
      }
      while (pending.length && pending[0]!.needXmin <= xmin) horizon = Math.max(horizon, pending.shift()!.lastId)
      // The horizon never passes what was seen.
      if (lastId > seen) unmarked = lastId
      seen = Math.max(seen, lastId)
      return horizon
    },
    /** Whether the next observation must take an xid: an id was seen that no xid bounds yet. */
    needsXid: () => unmarked > horizon,
    /** Whether more ids were seen than are safe yet: another observation soon will move the horizon. */
    behind: () => seen > horizon,
    /** The last id handed out, as last observed (committed or not). */
    seen: () => seen,
    current: () => horizon,
  }
}

/**
 * Reads an observation: the snapshot is taken when the statement starts, the sequence is read during it. With
 * `withXid` the statement's transaction gets an xid; having written nothing else, its commit record is not flushed
 * (measured: no WAL sync for 200 such statements).
 */
export async function observe(db: Db, withXid = false): Promise<Observation> {
  // A replica's snapshot and sequence are its own, behind the primary's; a replica cannot assign an xid.
  const result = await onPrimary(async () => await db.execute(sql`
    select pg_snapshot_xmin(pg_current_snapshot())::text as xmin,
      (select case when is_called then last_value else 0 end from events_id_seq)::text as last_id,
      case when ${withXid}::boolean then pg_current_xact_id()::text end as xid`))
  const row = (result as unknown as { rows: { xmin: string; last_id: string; xid: string | null }[] }).rows[0]!
  return { xmin: BigInt(row.xmin), lastId: Number(row.last_id), ...(row.xid === null ? {} : { xid: BigInt(row.xid) }) }
}
