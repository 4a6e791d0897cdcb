import { sql } from 'drizzle-orm'
import { bigint, boolean, check, index, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core'
import { orgs } from '../orgs/orgs.table.js'
import { users } from '../users/users.table.js'

/** A receiver of events: a user's or an org's (exactly one). */
export const webhookEndpoints = pgTable('webhook_endpoints', {
  id: integer().primaryKey().generatedAlwaysAsIdentity(),
  owner_id: integer().references(() => users.id, { onDelete: 'cascade' }),
  org_id: integer().references(() => orgs.id, { onDelete: 'cascade' }),
  url: text().notNull(),
  types: text().array().notNull(),
  secret: text().notNull(),
  enabled: boolean().notNull().default(true),
  consecutive_failures: integer().notNull().default(0),
  disabled_reason: text(),
  created_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  updated_at: timestamp({ withTimezone: true }),
}, (t) => [
  index('webhook_endpoints_owner_id_id_idx').on(t.owner_id, t.id),
  index('webhook_endpoints_org_id_id_idx').on(t.org_id, t.id),
  check('webhook_endpoints_scope_check', sql`((owner_id IS NULL) <> (org_id IS NULL))`),
])

/** The delivery outbox: one row per (endpoint, event). */
export const webhookDeliveries = pgTable('webhook_deliveries', {
  id: bigint({ mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
  endpoint_id: integer().notNull().references(() => webhookEndpoints.id, { onDelete: 'cascade' }),
  event_id: bigint({ mode: 'number' }).notNull(),
  event_type: text().notNull(),
  payload: jsonb().notNull(),
  status: text({ enum: ['pending', 'delivered', 'failed'] }).notNull().default('pending'),
  attempts: integer().notNull().default(0),
  next_attempt_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  response_status: integer(),
  last_error: text(),
  created_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  finished_at: timestamp({ withTimezone: true }),
}, (t) => [
  index('webhook_deliveries_due_idx').on(t.next_attempt_at).where(sql`status = 'pending'`),
  index('webhook_deliveries_endpoint_id_id_idx').on(t.endpoint_id, t.id),
  check('webhook_deliveries_status_check', sql`status IN ('pending', 'delivered', 'failed')`),
])

/** How far events have been turned into deliveries (one row). */
export const webhookFanout = pgTable('webhook_fanout', {
  id: integer().primaryKey(),
  position: bigint({ mode: 'number' }).notNull(),
}, () => [check('webhook_fanout_singleton_check', sql`(id = 1)`)])
