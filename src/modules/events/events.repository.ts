import { createHash, randomBytes } from 'node:crypto'
import { sql, type SQL } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { onPrimary } from '../../db/request-context.js'
import type { StoredEvent } from './events.shape.js'

export const PAGE_SIZE = 500

const intArray = (values: Iterable<number>) => `{${[...values].join(',')}}`
const rowsOf = <T>(result: unknown) => (result as { rows: T[] }).rows

/** What delivery rests on, read fresh for each page: the users' credentials and their roles in the page's orgs. */
export interface Grants {
  users: Map<number, { tokenVersion: number; isActive: boolean; roles: Map<number, string> }>
}

export const hashTicket = (ticket: string) => createHash('sha256').update(ticket).digest('hex')

export function createEventsRepository(db: Db) {
  // On the primary whatever the request: a replica that lags would replay a resuming stream without the events it
  // has not replayed yet (and the stream would move past them for good), miss a ticket issued a moment ago, and
  // judge access by roles and credentials changed a moment ago (db/request-context.ts).
  // `await` inside: Drizzle's query runs when awaited, and it must be awaited within onPrimary's context.
  const execute = (query: SQL) => onPrimary(async () => await db.execute(query))
  return {
    /** Every event in (after, upTo], oldest first, a page at a time. */
    async page(after: number, upTo: number): Promise<StoredEvent[]> {
      return rowsOf<StoredEvent>(await execute(sql`
        select id, type, resource, row_id, owner_id, org_id, data, created_at from events
        where id > ${after} and id <= ${upTo} order by id limit ${PAGE_SIZE}`))
    },

    /** The events in (after, upTo] a user may be shown: its own rows' and those of its orgs (roles checked later). */
    async pageFor(userId: number, after: number, upTo: number, types: readonly string[] | undefined): Promise<StoredEvent[]> {
      const typeFilter = types ? sql`and type = any(${`{${types.join(',')}}`}::text[])` : sql``
      return rowsOf<StoredEvent>(await execute(sql`
        select id, type, resource, row_id, owner_id, org_id, data, created_at from events
        where id > ${after} and id <= ${upTo} ${typeFilter}
          and (owner_id = ${userId} or org_id in (select org_id from memberships where user_id = ${userId}))
        order by id limit ${PAGE_SIZE}`))
    },

    /** The users' current credentials and their roles in `orgIds`, in one statement. */
    async grants(userIds: Iterable<number>, orgIds: Iterable<number>): Promise<Grants> {
      const rows = rowsOf<{ id: number; token_version: number; is_active: boolean; org_id: number | null; role: string | null }>(await execute(sql`
        select u.id, u.token_version, u.is_active, m.org_id, m.role from users u
        left join memberships m on m.user_id = u.id and m.org_id = any(${intArray(orgIds)}::int[])
        where u.id = any(${intArray(userIds)}::int[])`))
      const users: Grants['users'] = new Map()
      for (const row of rows) {
        const user = users.get(row.id) ?? { tokenVersion: row.token_version, isActive: row.is_active, roles: new Map() }
        if (row.org_id !== null) user.roles.set(row.org_id, row.role!)
        users.set(row.id, user)
      }
      return { users }
    },

    /** Drops events older than the retention window. */
    async sweep(retentionHours: number): Promise<number> {
      const rows = rowsOf<unknown>(await execute(sql`
        delete from events where created_at < now() - ${retentionHours} * interval '1 hour' returning id`))
      return rows.length
    },

    /** A one-time ticket for `userId`: 32 random bytes, only its SHA-256 stored. */
    async issueTicket(userId: number, tokenVersion: number, ttlSeconds: number): Promise<{ ticket: string; expiresAt: Date }> {
      const ticket = randomBytes(32).toString('base64url')
      const rows = rowsOf<{ expires_at: Date | string }>(await execute(sql`
        insert into event_tickets (token_hash, user_id, token_version, expires_at)
        values (${hashTicket(ticket)}, ${userId}, ${tokenVersion}, now() + ${ttlSeconds} * interval '1 second')
        returning expires_at`))
      return { ticket, expiresAt: new Date(rows[0]!.expires_at) }
    },

    /** Consumes a ticket atomically (a second use finds nothing); expired tickets are not honoured. */
    async consumeTicket(ticket: string): Promise<{ userId: number; tokenVersion: number } | undefined> {
      const rows = rowsOf<{ user_id: number; token_version: number; live: boolean }>(await execute(sql`
        delete from event_tickets where token_hash = ${hashTicket(ticket)}
        returning user_id, token_version, expires_at > now() as live`))
      const row = rows[0]
      return row?.live ? { userId: row.user_id, tokenVersion: row.token_version } : undefined
    },

    async sweepTickets(): Promise<void> {
      await execute(sql`delete from event_tickets where expires_at < now()`)
    },
  }
}

export type EventsRepository = ReturnType<typeof createEventsRepository>
