import { and, eq, inArray, isNull } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { EMAIL_TOKEN_PURPOSES, emailTokens, type EmailTokenPurpose } from './email-tokens.table.js'

/** What happened to an account that settles who controls it (docs/email.md, "Which events end which links"). */
export type AccountEvent =
  | 'password_changed' | 'password_reset' | 'password_set_by_superuser'
  | 'email_set_by_superuser' | 'email_change_confirmed' | 'deactivated'

/**
 * The rule, as data: each event ends the pending links that could undo it. A link asked for before the event was
 * asked for by whoever controlled the account then, possibly someone the event is meant to shut out (an attacker who
 * knew the old password asks for an email change to their address; the owner then changes the password). Links
 * sent to an address the account no longer has prove nothing about it. A verification link of the current address
 * undoes nothing, so a password event leaves it. Account deletion needs no entry: the rows go with the user (ON
 * DELETE CASCADE).
 */
export const TOKENS_REVOKED_BY: Readonly<Record<AccountEvent, readonly EmailTokenPurpose[]>> = {
  password_changed: ['password_reset', 'email_change'],
  password_reset: ['password_reset', 'email_change'],
  password_set_by_superuser: ['password_reset', 'email_change'],
  email_set_by_superuser: EMAIL_TOKEN_PURPOSES,
  email_change_confirmed: EMAIL_TOKEN_PURPOSES,
  deactivated: EMAIL_TOKEN_PURPOSES,
}

/** Deletes the user's unused tokens that `events` end, in `tx`: the same transaction as the change itself. */
export async function revokeEmailTokensFor(tx: Db, userId: number, events: readonly AccountEvent[]): Promise<void> {
  const purposes = [...new Set(events.flatMap((event) => TOKENS_REVOKED_BY[event]))]
  if (purposes.length === 0) return
  await tx.delete(emailTokens).where(and(eq(emailTokens.user_id, userId), inArray(emailTokens.purpose, purposes), isNull(emailTokens.used_at)))
}
