import { sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { onPrimary } from '../../db/request-context.js'

/** One look at the database: the snapshot's bounds (xid8, as bigint) and the last event id handed out. */
export interface Observation {
  xmin: bigint
  xmax: bigint
  lastId: number
}

/**
 * Where reading the event log is safe up to. Event ids are taken from a sequence before their transactions commit,
 * so a later-committing transaction can hold a smaller id: a reader that moved past a gap would skip that event
 * for good. The horizon is an id below which every event is final (committed or rolled back).
 *
 * Each observation reads the snapshot first, then the sequence. A transaction holding an id not above the `lastId`
 * of observation r had its transaction id before that read (its row was written before the trigger took the id),
 * hence before the snapshot of observation r+1: its xid is below that snapshot's xmax. Once a later snapshot's
 * xmin reaches that xmax, every such transaction has ended, and `lastId` of r is the horizon. Under load this
 * lags by the length of the slowest writing transaction in flight, typically milliseconds.
 */
export function createHorizon() {
  const pending: { lastId: number; needXmin: bigint }[] = []
  let previousLastId: number | undefined
  let horizon = 0
  return {
    /** Feeds one observation; returns the (never decreasing) horizon. */
    observe({ xmin, xmax, lastId }: Observation): number {
      if (previousLastId !== undefined && previousLastId > horizon) pending.push({ lastId: previousLastId, needXmin: xmax })
      previousLastId = lastId
      while (pending.length && pending[0]!.needXmin <= xmin) horizon = Math.max(horizon, pending.shift()!.lastId)
      return horizon
    },
    /** Whether more ids were seen than are safe yet: another observation soon will move the horizon. */
    behind: () => (previousLastId ?? 0) > horizon,
    /** The last id handed out, as last observed (committed or not). */
    seen: () => previousLastId ?? 0,
    current: () => horizon,
  }
}

/** Reads an observation: the snapshot is taken when the statement starts, the sequence is read during it. */
export async function observe(db: Db): Promise<Observation> {
  // A replica's snapshot and sequence are its own, behind the primary's.
  const result = await onPrimary(async () => await db.execute(sql`
    select pg_snapshot_xmin(pg_current_snapshot())::text as xmin, pg_snapshot_xmax(pg_current_snapshot())::text as xmax,
      (select case when is_called then last_value else 0 end from events_id_seq)::text as last_id`))
  const row = (result as unknown as { rows: { xmin: string; xmax: string; last_id: string }[] }).rows[0]!
  return { xmin: BigInt(row.xmin), xmax: BigInt(row.xmax), lastId: Number(row.last_id) }
}
