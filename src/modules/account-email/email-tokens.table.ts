import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, text, timestamp, varchar } from 'drizzle-orm/pg-core'
import { users } from '../users/users.table.js'

export const EMAIL_TOKEN_PURPOSES = ['password_reset', 'email_verification', 'email_change'] as const
export type EmailTokenPurpose = (typeof EMAIL_TOKEN_PURPOSES)[number]

/** Single-use tokens sent by email; only their SHA-256 is stored, so a database leak yields no usable link. */
export const emailTokens = pgTable('email_tokens', {
  id: integer().primaryKey().generatedAlwaysAsIdentity(),
  user_id: integer().notNull().references(() => users.id, { onDelete: 'cascade' }),
  purpose: text({ enum: EMAIL_TOKEN_PURPOSES }).notNull(),
  token_hash: varchar({ length: 64 }).notNull().unique('email_tokens_token_hash_key'),
  // The address the token proves: where it was sent (the new address for an email change).
  email: varchar({ length: 320 }).notNull(),
  expires_at: timestamp({ withTimezone: true }).notNull(),
  created_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  used_at: timestamp({ withTimezone: true }),
}, (t) => [
  index('email_tokens_user_id_purpose_idx').on(t.user_id, t.purpose),
  check('email_tokens_purpose_check', sql`purpose IN ('password_reset', 'email_verification', 'email_change')`),
])
