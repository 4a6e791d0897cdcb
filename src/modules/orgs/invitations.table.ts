import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, text, timestamp, unique, varchar } from 'drizzle-orm/pg-core'
import { users } from '../users/users.table.js'
import { orgs } from './orgs.table.js'
import { ROLES } from './roles.js'

/** Pending invitations; accepted and revoked ones are deleted. Only the token's SHA-256 is stored. */
export const invitations = pgTable('invitations', {
  id: integer().primaryKey().generatedAlwaysAsIdentity(),
  org_id: integer().notNull().references(() => orgs.id, { onDelete: 'cascade' }),
  email: varchar({ length: 320 }).notNull(),
  role: text().notNull(),
  token_hash: varchar({ length: 64 }).notNull(),
  invited_by: integer().references(() => users.id, { onDelete: 'set null' }),
  created_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  expires_at: timestamp({ withTimezone: true }).notNull(),
}, (t) => [
  unique('invitations_token_hash_key').on(t.token_hash),
  unique('invitations_org_id_email_key').on(t.org_id, t.email),
  index('invitations_invited_by_idx').on(t.invited_by),
  check('invitations_role_check', sql.raw(`(role = ANY (ARRAY[${ROLES.map((r) => `'${r}'::text`).join(', ')}]))`)),
])
