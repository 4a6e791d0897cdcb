import { eq } from 'drizzle-orm'
import type { Database } from '../../src/db/client.js'
import { mailOutbox } from '../../src/db/schema.js'

/** A clock the test moves by hand (email token expiry). */
export function testClock() {
  let offsetMs = 0
  return {
    clock: () => new Date(Date.now() + offsetMs),
    advance: (seconds: number) => { offsetMs += seconds * 1000 },
  }
}

/** Subjects of the outbox rows for `to`: what was queued, whether or not it was sent yet. */
export async function queuedSubjects(database: Database, to: string): Promise<string[]> {
  const rows = await database.db.select({ subject: mailOutbox.subject }).from(mailOutbox).where(eq(mailOutbox.recipient, to)).orderBy(mailOutbox.id)
  return rows.map((r) => r.subject)
}
