import { and, desc, eq, sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { webhookDeliveries, webhookEndpoints } from './webhooks.table.js'

/** Whose endpoints: a user's, or an org's. */
export type Owner = { ownerId: number } | { orgId: number }

const ownedBy = (owner: Owner): SQL => ('orgId' in owner ? eq(webhookEndpoints.org_id, owner.orgId) : eq(webhookEndpoints.owner_id, owner.ownerId))
const rowsOf = <T>(result: unknown) => (result as { rows: T[] }).rows

export const endpointColumns = {
  id: webhookEndpoints.id, url: webhookEndpoints.url, types: webhookEndpoints.types, enabled: webhookEndpoints.enabled,
  consecutive_failures: webhookEndpoints.consecutive_failures, disabled_reason: webhookEndpoints.disabled_reason,
  created_at: webhookEndpoints.created_at, updated_at: webhookEndpoints.updated_at,
}

export interface ClaimedDelivery {
  id: number
  endpoint_id: number
  event_id: number
  payload: Record<string, unknown>
  attempts: number
  url: string
  secret: string
  org_id: number | null
}

// Events turned into deliveries per transaction at most: a long backlog is worked through in steps.
const FANOUT_STEP = 5_000

export function createWebhooksRepository(db: Db) {
  return {
    async insert(owner: Owner, values: { url: string; types: string[]; secret: string }) {
      const [row] = await db.insert(webhookEndpoints)
        .values({ ...values, owner_id: 'ownerId' in owner ? owner.ownerId : null, org_id: 'orgId' in owner ? owner.orgId : null })
        .returning(endpointColumns)
      return row!
    },
    async list(owner: Owner, skip: number, limit: number) {
      const [items, [count]] = await Promise.all([
        db.select(endpointColumns).from(webhookEndpoints).where(ownedBy(owner)).orderBy(webhookEndpoints.id).offset(skip).limit(limit),
        db.select({ total: sql<number>`count(*)::int` }).from(webhookEndpoints).where(ownedBy(owner)),
      ])
      return { items, total: count!.total }
    },
    async find(owner: Owner, id: number) {
      const [row] = await db.select(endpointColumns).from(webhookEndpoints).where(and(ownedBy(owner), eq(webhookEndpoints.id, id)))
      return row
    },
    /** Re-enabling clears the failure count; disabling by hand is kept apart from the automatic kind. */
    async update(owner: Owner, id: number, changes: { url?: string; types?: string[]; enabled?: boolean }) {
      const [row] = await db.update(webhookEndpoints).set({
        ...changes, updated_at: sql`now()`,
        ...(changes.enabled === true ? { consecutive_failures: 0, disabled_reason: null } : {}),
        ...(changes.enabled === false ? { disabled_reason: 'disabled by a user' } : {}),
      }).where(and(ownedBy(owner), eq(webhookEndpoints.id, id))).returning(endpointColumns)
      return row
    },
    async remove(owner: Owner, id: number): Promise<boolean> {
      const rows = await db.delete(webhookEndpoints).where(and(ownedBy(owner), eq(webhookEndpoints.id, id))).returning({ id: webhookEndpoints.id })
      return rows.length > 0
    },
    async deliveries(endpointId: number, skip: number, limit: number) {
      const where = eq(webhookDeliveries.endpoint_id, endpointId)
      const [items, [count]] = await Promise.all([
        db.select({
          id: webhookDeliveries.id, event_id: webhookDeliveries.event_id, event_type: webhookDeliveries.event_type, status: webhookDeliveries.status,
          attempts: webhookDeliveries.attempts, response_status: webhookDeliveries.response_status, last_error: webhookDeliveries.last_error,
          created_at: webhookDeliveries.created_at, next_attempt_at: webhookDeliveries.next_attempt_at, finished_at: webhookDeliveries.finished_at,
        }).from(webhookDeliveries).where(where).orderBy(desc(webhookDeliveries.id)).offset(skip).limit(limit),
        db.select({ total: sql<number>`count(*)::int` }).from(webhookDeliveries).where(where),
      ])
      return { items, total: count!.total }
    },

    /**
     * Turns the events in (position, horizon] into deliveries for the enabled endpoints that want them, and moves
     * the position, in one transaction. The cursor row is taken FOR UPDATE SKIP LOCKED: one instance at a time
     * fans out, the others skip (the next horizon covers them). `more`: a step was left for another call.
     */
    async fanOut(horizon: number): Promise<{ queued: number; more: boolean }> {
      return db.transaction(async (tx) => {
        // No wait for the flush at commit: lost in a crash, the deliveries and the cursor's move are lost together
        // and made again from the log, so nothing is lost or doubled; the wait would be paid for every few writes.
        await tx.execute(sql`set local synchronous_commit = off`)
        const [cursor] = rowsOf<{ position: string }>(await tx.execute(sql`select position from webhook_fanout where id = 1 for update skip locked`))
        if (!cursor || Number(cursor.position) >= horizon) return { queued: 0, more: false }
        const upTo = Math.min(horizon, Number(cursor.position) + FANOUT_STEP)
        const queued = rowsOf<unknown>(await tx.execute(sql`
          insert into webhook_deliveries (endpoint_id, event_id, event_type, payload)
          select w.id, e.id, e.type, jsonb_build_object('id', e.id, 'type', e.type, 'resource', e.resource, 'row_id', e.row_id,
            'owner_id', e.owner_id, 'org_id', e.org_id, 'data', e.data, 'created_at', e.created_at)
          from events e join webhook_endpoints w on w.enabled and (w.owner_id = e.owner_id or w.org_id = e.org_id)
            and (cardinality(w.types) = 0 or e.type = any(w.types)) and w.created_at <= e.created_at
          where e.id > ${cursor.position} and e.id <= ${upTo}
          returning id`))
        await tx.execute(sql`update webhook_fanout set position = ${upTo} where id = 1`)
        return { queued: queued.length, more: upTo < horizon }
      })
    },

    /** Takes due deliveries, leased to this worker (the mail outbox's claim: SKIP LOCKED, any number of workers). */
    async claim(limit: number, leaseSeconds: number): Promise<ClaimedDelivery[]> {
      return rowsOf<ClaimedDelivery>(await db.execute(sql`
        update webhook_deliveries d set attempts = d.attempts + 1, next_attempt_at = now() + ${leaseSeconds} * interval '1 second'
        from webhook_endpoints w
        where w.id = d.endpoint_id and d.id in (
          select id from webhook_deliveries where status = 'pending' and next_attempt_at <= now()
          order by next_attempt_at, id limit ${limit} for update skip locked)
        and d.status = 'pending' and d.next_attempt_at <= now()
        returning d.id, d.endpoint_id, d.event_id, d.payload, d.attempts, w.url, w.secret, w.org_id`))
    },

    async markDelivered(delivery: ClaimedDelivery, status: number): Promise<void> {
      await db.execute(sql`update webhook_deliveries set status = 'delivered', response_status = ${status}, last_error = null, finished_at = now() where id = ${delivery.id}`)
      await db.execute(sql`update webhook_endpoints set consecutive_failures = 0 where id = ${delivery.endpoint_id} and consecutive_failures > 0`)
    },

    /**
     * A failed attempt: retried after `retryInSeconds`, or failed for good (undefined). Counts the endpoint's failures
     * in a row; past `disableAfter` the endpoint is disabled and its pending deliveries fail. Returns whether it was.
     */
    async markFailed(delivery: ClaimedDelivery, outcome: { status?: number; error: string }, retryInSeconds: number | undefined, disableAfter: number): Promise<boolean> {
      await db.execute(retryInSeconds === undefined
        ? sql`update webhook_deliveries set status = 'failed', response_status = ${outcome.status ?? null}, last_error = ${outcome.error}, finished_at = now() where id = ${delivery.id}`
        : sql`update webhook_deliveries set response_status = ${outcome.status ?? null}, last_error = ${outcome.error},
            next_attempt_at = now() + ${retryInSeconds} * interval '1 second' where id = ${delivery.id}`)
      const [endpoint] = rowsOf<{ disabled: boolean }>(await db.execute(sql`
        update webhook_endpoints set consecutive_failures = consecutive_failures + 1,
          enabled = enabled and consecutive_failures + 1 < ${disableAfter},
          disabled_reason = case when enabled and consecutive_failures + 1 >= ${disableAfter}
            then ${`disabled after ${disableAfter} failed attempts in a row`} else disabled_reason end
        where id = ${delivery.endpoint_id}
        returning (not enabled and consecutive_failures = ${disableAfter}) as disabled`))
      if (!endpoint?.disabled) return false
      await db.execute(sql`update webhook_deliveries set status = 'failed', last_error = 'endpoint disabled', finished_at = now()
        where endpoint_id = ${delivery.endpoint_id} and status = 'pending'`)
      return true
    },

    /** Drops finished deliveries older than `days` (pending ones are still being retried); returns how many. */
    async sweep(days: number): Promise<number> {
      return rowsOf<unknown>(await db.execute(sql`
        delete from webhook_deliveries where status <> 'pending' and created_at < now() - ${days} * interval '1 day' returning id`)).length
    },
  }
}

export type WebhooksRepository = ReturnType<typeof createWebhooksRepository>
