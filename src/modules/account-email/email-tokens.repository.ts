import { createHash, randomBytes } from 'node:crypto'
import { and, eq, gt, isNull, lt, or, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { mailOutbox } from '../mail/mail-outbox.table.js'
import { users } from '../users/users.table.js'
import { emailTokens, type EmailTokenPurpose } from './email-tokens.table.js'

/** Injectable time source: tests move it forward to expire tokens without waiting. */
export type Clock = () => Date

export const systemClock: Clock = () => new Date()

/** SHA-256 of a token as stored: the token itself exists only in the link. */
export const hashEmailToken = (token: string) => createHash('sha256').update(token).digest('hex')

export interface IssueToken {
  userId: number
  purpose: EmailTokenPurpose
  /** The address the link goes to, and so the one the token proves. */
  email: string
  ttlSeconds: number
}

export interface ConsumedToken {
  user_id: number
  email: string
}

export function createEmailTokensRepository(db: Db, clock: Clock = systemClock) {
  const live = (hash: string, purpose: EmailTokenPurpose) => and(
    eq(emailTokens.token_hash, hash), eq(emailTokens.purpose, purpose), isNull(emailTokens.used_at), gt(emailTokens.expires_at, clock()),
  )
  return {
    /** A new token of 32 random bytes (base64url); the older ones of its user and purpose die with it. */
    async issue(input: IssueToken, tx: Db = db): Promise<string> {
      const token = randomBytes(32).toString('base64url')
      await this.revoke(input.userId, input.purpose, tx)
      await tx.insert(emailTokens).values({
        user_id: input.userId,
        purpose: input.purpose,
        token_hash: hashEmailToken(token),
        email: input.email,
        expires_at: new Date(clock().getTime() + input.ttlSeconds * 1000),
      })
      return token
    },

    /**
     * Uses a token up: one UPDATE is the arbiter, so of two requests presenting the same token exactly one gets
     * its row back. Unknown, used, expired and other-purpose tokens all answer undefined.
     */
    async consume(token: string, purpose: EmailTokenPurpose, tx: Db = db): Promise<ConsumedToken | undefined> {
      const [row] = await tx.update(emailTokens).set({ used_at: clock() })
        .where(live(hashEmailToken(token), purpose))
        .returning({ user_id: emailTokens.user_id, email: emailTokens.email })
      return row
    },

    /** Whether a token would be accepted now, without using it (cheap check before expensive work). */
    async peek(token: string, purpose: EmailTokenPurpose, tx: Db = db): Promise<ConsumedToken | undefined> {
      const [row] = await tx.select({ user_id: emailTokens.user_id, email: emailTokens.email }).from(emailTokens)
        .where(live(hashEmailToken(token), purpose))
      return row
    },

    /** Drops tokens that can never be used again (expired or used a day ago): they prove nothing. */
    async sweepDead(): Promise<number> {
      const dayAgo = new Date(clock().getTime() - 86_400_000)
      const rows = await db.delete(emailTokens).where(or(lt(emailTokens.expires_at, dayAgo), lt(emailTokens.used_at, dayAgo)))
        .returning({ id: emailTokens.id })
      return rows.length
    },

    /** Kills every outstanding token of this user and purpose (a newer one, or a password change, replaces them). */
    async revoke(userId: number, purpose: EmailTokenPurpose, tx: Db = db): Promise<void> {
      await tx.delete(emailTokens).where(and(eq(emailTokens.user_id, userId), eq(emailTokens.purpose, purpose), isNull(emailTokens.used_at)))
    },
  }
}

export type EmailTokensRepository = ReturnType<typeof createEmailTokensRepository>

/**
 * Issues a token for the active account with `email`, kills its older ones and queues its mail, in one statement:
 * the request runs the same statement and the same work whether the address is unknown, inactive or known (only
 * the number of rows written differs), so neither its answer nor its timing says which.
 */
export async function issueForActiveAddress(db: Db, clock: Clock, input: {
  email: string
  purpose: EmailTokenPurpose
  ttlSeconds: number
  mail: (token: string) => { subject: string; text: string; html: string }
}): Promise<void> {
  const token = randomBytes(32).toString('base64url')
  const { subject, text, html } = input.mail(token)
  const expiresAt = new Date(clock().getTime() + input.ttlSeconds * 1000).toISOString()
  await db.execute(sql`
    WITH target AS (
      SELECT id, email FROM ${users} WHERE lower(email) = ${input.email.toLowerCase()} AND is_active
    ), killed AS (
      DELETE FROM ${emailTokens} WHERE user_id IN (SELECT id FROM target) AND purpose = ${input.purpose} AND used_at IS NULL
    ), issued AS (
      INSERT INTO ${emailTokens} (user_id, purpose, token_hash, email, expires_at)
      SELECT id, ${input.purpose}, ${hashEmailToken(token)}, email, ${expiresAt}::timestamptz FROM target
    )
    INSERT INTO ${mailOutbox} (recipient, subject, text_body, html_body)
    SELECT email, ${subject}, ${text}, ${html} FROM target`)
}
