import { boolean, index, integer, pgTable, timestamp, varchar } from 'drizzle-orm/pg-core'
import { users } from '../users/users.table.js'

export const items = pgTable('items', {
  id: integer().primaryKey().generatedAlwaysAsIdentity(),
  name: varchar({ length: 255 }).notNull(),
  description: varchar({ length: 1000 }),
  is_active: boolean().notNull().default(true),
  owner_id: integer().notNull().references(() => users.id, { onDelete: 'cascade' }),
  created_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  updated_at: timestamp({ withTimezone: true }),
}, (t) => [
  // One index per list shape: every query is scoped to the owner, then ordered (ties broken by id).
  index('items_owner_id_id_idx').on(t.owner_id, t.id),
  index('items_owner_id_name_id_idx').on(t.owner_id, t.name, t.id),
  index('items_owner_id_created_at_id_idx').on(t.owner_id, t.created_at, t.id),
])

export type ItemRow = typeof items.$inferSelect
