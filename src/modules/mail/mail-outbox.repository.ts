import { and, asc, eq, inArray, lt, lte, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { mailOutbox } from './mail-outbox.table.js'
import type { MailContent } from './mail.templates.js'

export interface OutboxMessage extends MailContent {
  to: string
}

export interface ClaimedMessage {
  id: number
  recipient: string
  subject: string
  text_body: string | null
  html_body: string | null
  attempts: number
  created_at: Date
}

export function createMailOutboxRepository(db: Db) {
  return {
    /** Queues messages inside `tx`: they exist exactly when the event they announce was committed. */
    async enqueue(messages: OutboxMessage[], tx: Db = db): Promise<void> {
      if (!messages.length) return
      await tx.insert(mailOutbox).values(messages.map((m) => ({ recipient: m.to, subject: m.subject, text_body: m.text, html_body: m.html })))
    },

    /**
     * Takes up to `limit` due messages for this worker: each attempt is counted and the message leased (pushed
     * `leaseSeconds` into the future) in one statement. SKIP LOCKED lets workers in other processes take other
     * rows instead of waiting; a row another worker leased meanwhile fails the re-check of `next_attempt_at`.
     */
    async claim(limit: number, leaseSeconds: number): Promise<ClaimedMessage[]> {
      const due = db.select({ id: mailOutbox.id }).from(mailOutbox)
        .where(and(eq(mailOutbox.status, 'pending'), lte(mailOutbox.next_attempt_at, sql`now()`)))
        .orderBy(asc(mailOutbox.next_attempt_at), asc(mailOutbox.id))
        .limit(limit)
        .for('update', { skipLocked: true })
      return db.update(mailOutbox)
        .set({ attempts: sql`${mailOutbox.attempts} + 1`, next_attempt_at: sql`now() + ${leaseSeconds} * interval '1 second'` })
        .where(and(inArray(mailOutbox.id, due), eq(mailOutbox.status, 'pending'), lte(mailOutbox.next_attempt_at, sql`now()`)))
        .returning({
          id: mailOutbox.id, recipient: mailOutbox.recipient, subject: mailOutbox.subject, text_body: mailOutbox.text_body,
          html_body: mailOutbox.html_body, attempts: mailOutbox.attempts, created_at: mailOutbox.created_at,
        })
    },

    /** Sent: the body (a live token, perhaps) is erased. */
    async markSent(id: number): Promise<void> {
      await db.update(mailOutbox)
        .set({ status: 'sent', sent_at: sql`now()`, text_body: null, html_body: null, last_error: null })
        .where(eq(mailOutbox.id, id))
    },

    async scheduleRetry(id: number, error: string, delaySeconds: number): Promise<void> {
      await db.update(mailOutbox)
        .set({ last_error: error, next_attempt_at: sql`now() + ${delaySeconds} * interval '1 second'` })
        .where(eq(mailOutbox.id, id))
    },

    /** Drops sent and dead messages older than `days`: the record is kept that long, then it is only clutter. */
    async sweepFinished(days: number): Promise<number> {
      const rows = await db.delete(mailOutbox)
        .where(and(inArray(mailOutbox.status, ['sent', 'dead']), lt(mailOutbox.created_at, sql`now() - ${days} * interval '1 day'`)))
        .returning({ id: mailOutbox.id })
      return rows.length
    },

    /** Given up: kept for the record (recipient, subject, error), the body erased. */
    async markDead(id: number, error: string): Promise<void> {
      await db.update(mailOutbox)
        .set({ status: 'dead', last_error: error, text_body: null, html_body: null })
        .where(eq(mailOutbox.id, id))
    },
  }
}

export type MailOutboxRepository = ReturnType<typeof createMailOutboxRepository>
