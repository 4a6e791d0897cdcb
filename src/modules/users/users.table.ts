import { sql } from 'drizzle-orm'
import { boolean, integer, pgTable, text, timestamp, uniqueIndex, varchar } from 'drizzle-orm/pg-core'

export const users = pgTable('users', {
  id: integer().primaryKey().generatedAlwaysAsIdentity(),
  email: varchar({ length: 320 }).notNull(),
  hashed_password: text().notNull(),
  full_name: varchar({ length: 255 }),
  is_active: boolean().notNull().default(true),
  is_superuser: boolean().notNull().default(false),
  // True once the address has been proven by a link sent to it (sign-up verification, reset, confirmed change).
  email_verified: boolean().notNull().default(false),
  // Bumped on password change: access tokens carry it, so every token issued before the change stops working.
  token_version: integer().notNull().default(0),
  created_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  updated_at: timestamp({ withTimezone: true }),
}, (t) => [
  uniqueIndex('users_email_lower_key').on(sql`lower(${t.email})`),
])

export type UserRow = typeof users.$inferSelect
