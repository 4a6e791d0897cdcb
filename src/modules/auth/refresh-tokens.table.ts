import { index, integer, pgTable, timestamp, uuid, varchar } from 'drizzle-orm/pg-core'
import { users } from '../users/users.table.js'

/** Refresh tokens are opaque random strings; only their SHA-256 is stored, so a database leak yields no usable token. */
export const refreshTokens = pgTable('refresh_tokens', {
  id: integer().primaryKey().generatedAlwaysAsIdentity(),
  user_id: integer().notNull().references(() => users.id, { onDelete: 'cascade' }),
  // All tokens descending from one login share a family; reuse of a rotated token revokes the user's tokens.
  family_id: uuid().notNull(),
  token_hash: varchar({ length: 64 }).notNull().unique('refresh_tokens_token_hash_key'),
  expires_at: timestamp({ withTimezone: true }).notNull(),
  created_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  // Set when the token is exchanged for a new one; presenting it again is reuse (theft) and revokes the user's tokens.
  rotated_at: timestamp({ withTimezone: true }),
  // Set by logout, password change or reuse detection.
  revoked_at: timestamp({ withTimezone: true }),
}, (t) => [
  index('refresh_tokens_user_id_idx').on(t.user_id),
  index('refresh_tokens_expires_at_idx').on(t.expires_at),
  index('refresh_tokens_family_id_idx').on(t.family_id),
])
