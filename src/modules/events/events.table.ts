import { bigint, index, integer, jsonb, pgTable, text, timestamp, unique, varchar } from 'drizzle-orm/pg-core'
import { users } from '../users/users.table.js'

/** The event log (SPEC §11), written only by the `keel_record_event` trigger (migration 0009). */
export const events = pgTable('events', {
  id: bigint({ mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  type: text().notNull(),
  resource: text().notNull(),
  row_id: integer().notNull(),
  owner_id: integer(),
  org_id: integer(),
  data: jsonb().notNull(),
  created_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
}, (t) => [index('events_created_at_idx').on(t.created_at)])

/** One-time tickets that authenticate an EventSource: only their SHA-256 is kept. */
export const eventTickets = pgTable('event_tickets', {
  id: integer().primaryKey().generatedAlwaysAsIdentity(),
  token_hash: varchar({ length: 64 }).notNull(),
  user_id: integer().notNull().references(() => users.id, { onDelete: 'cascade' }),
  token_version: integer().notNull(),
  expires_at: timestamp({ withTimezone: true }).notNull(),
}, (t) => [
  unique('event_tickets_token_hash_key').on(t.token_hash),
  index('event_tickets_expires_at_idx').on(t.expires_at),
])
