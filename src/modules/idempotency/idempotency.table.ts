import { index, integer, pgTable, text, timestamp, unique, varchar } from 'drizzle-orm/pg-core'
import { users } from '../users/users.table.js'

/**
 * Answers of creates sent with an Idempotency-Key (SPEC §9), per caller, for 24 h. Written in the transaction of the
 * row they answer for, so a key is here exactly when its row is. The key is stored as its SHA-256 (any length and
 * charset then fits one column); the fingerprint is the SHA-256 of the method, path and body.
 */
export const idempotencyKeys = pgTable('idempotency_keys', {
  id: integer().primaryKey().generatedAlwaysAsIdentity(),
  user_id: integer().notNull().references(() => users.id, { onDelete: 'cascade' }),
  key_hash: varchar({ length: 64 }).notNull(),
  fingerprint: varchar({ length: 64 }).notNull(),
  status: integer().notNull(),
  location: text(),
  etag: text(),
  body: text().notNull(),
  created_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  expires_at: timestamp({ withTimezone: true }).notNull(),
}, (t) => [
  unique('idempotency_keys_user_id_key_hash_key').on(t.user_id, t.key_hash),
  index('idempotency_keys_expires_at_idx').on(t.expires_at),
])
