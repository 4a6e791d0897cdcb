import { sql } from 'drizzle-orm'
import { check, index, integer, pgTable, text, timestamp, varchar } from 'drizzle-orm/pg-core'

/** Messages waiting to be sent (or sent, or given up on): written in the transaction of the event they announce. */
export const mailOutbox = pgTable('mail_outbox', {
  id: integer().primaryKey().generatedAlwaysAsIdentity(),
  recipient: varchar({ length: 320 }).notNull(),
  subject: varchar({ length: 255 }).notNull(),
  // Erased once the message is sent or dead: a link mail's body holds a live token.
  text_body: text(),
  html_body: text(),
  status: text({ enum: ['pending', 'sent', 'dead'] }).notNull().default('pending'),
  attempts: integer().notNull().default(0),
  // Due time: now for a new message, later after a failure, and a lease while a worker is sending it.
  next_attempt_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  last_error: text(),
  created_at: timestamp({ withTimezone: true }).notNull().defaultNow(),
  sent_at: timestamp({ withTimezone: true }),
}, (t) => [
  index('mail_outbox_due_idx').on(t.next_attempt_at).where(sql`status = 'pending'`),
  check('mail_outbox_status_check', sql`status IN ('pending', 'sent', 'dead')`),
])
