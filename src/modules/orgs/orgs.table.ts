import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, text, timestamp, unique, varchar } from 'drizzle-orm/pg-core'
import { users } from '../users/users.table.js'
import { ROLES } from './roles.js'

export const orgs = pgTable('orgs', {
  id: integer().primaryKey().generatedAlwaysAsIdentity(),
  name: varchar({ length: 100 }).notNull(),
  slug: varchar({ length: 40 }).notNull(),
  created_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  updated_at: timestamp({ withTimezone: true }),
}, (t) => [unique('orgs_slug_key').on(t.slug)])

export const memberships = pgTable('memberships', {
  id: integer().primaryKey().generatedAlwaysAsIdentity(),
  org_id: integer().notNull().references(() => orgs.id, { onDelete: 'cascade' }),
  user_id: integer().notNull().references(() => users.id, { onDelete: 'cascade' }),
  role: text().notNull(),
  created_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  updated_at: timestamp({ withTimezone: true }),
}, (t) => [
  unique('memberships_org_id_user_id_key').on(t.org_id, t.user_id),
  index('memberships_user_id_idx').on(t.user_id),
  check('memberships_role_check', sql.raw(`(role = ANY (ARRAY[${ROLES.map((r) => `'${r}'::text`).join(', ')}]))`)),
])
