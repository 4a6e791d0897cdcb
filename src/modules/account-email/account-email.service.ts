import type { Config } from '../../config.js'
import type { Db } from '../../db/client.js'
import { BadRequestError, ConflictError, NotFoundError, ValidationError } from '../../shared/errors.js'
import { createRefreshTokensRepository } from '../auth/refresh-tokens.repository.js'
import { createMailOutboxRepository } from '../mail/mail-outbox.repository.js'
import { assertHashable, hashPassword, verifyPassword } from '../users/passwords.js'
import type { UserCache } from '../users/users.cache.js'
import { createUsersRepository } from '../users/users.repository.js'
import { createAccountMails, TOKEN_TTL_SECONDS } from './account-email.mails.js'
import type { MailRequestLimits } from './account-email.limits.js'
import { createEmailTokensRepository, issueForActiveAddress, type Clock } from './email-tokens.repository.js'
import type { EmailTokenPurpose } from './email-tokens.table.js'
import { revokeEmailTokensFor } from './token-revocation.js'

export interface AccountEmailDeps {
  db: Db
  config: Pick<Config, 'bcryptRounds' | 'mail'>
  clock: Clock
  limits: MailRequestLimits
  /** Tells the outbox worker that a committed transaction queued mail. */
  wake: () => void
  cache?: Pick<UserCache, 'invalidate'>
}

const INVALID_LINK = 'This link is invalid, used or expired: ask for a new one'

/** Password recovery and reset, email verification and confirmed email changes (SPEC §6). */
export function createAccountEmailService({ db, config, clock, limits, wake, cache }: AccountEmailDeps) {
  const users = createUsersRepository(db)
  const tokens = createEmailTokensRepository(db, clock)
  const outbox = createMailOutboxRepository(db)
  const refreshTokens = createRefreshTokensRepository(db)
  const mails = createAccountMails(config.mail)

  /**
   * Uses a token inside `tx`, with the lock order every token path keeps (user row first, see lockForAuth): a cheap
   * look finds the user, the user row is locked, then the one UPDATE that consumes the token decides.
   */
  async function consumeLocked(token: string, purpose: EmailTokenPurpose, tx: Db) {
    const found = await tokens.peek(token, purpose, tx)
    if (!found) throw new BadRequestError(INVALID_LINK)
    const user = await users.lockForAuth(found.user_id, tx)
    const consumed = await tokens.consume(token, purpose, tx)
    if (!user || !consumed || !user.is_active) throw new BadRequestError(INVALID_LINK)
    return { userId: consumed.user_id, provenEmail: consumed.email, user }
  }

  /** Ends every session: refresh tokens revoked, access tokens dead by the version bump. */
  async function endSessions(userId: number, tx: Db): Promise<void> {
    await refreshTokens.revokeAllForUser(userId, tx)
    await users.bumpTokenVersion(userId, tx)
  }

  async function queueVerification(user: { id: number; email: string }, tx: Db): Promise<void> {
    const token = await tokens.issue({ userId: user.id, purpose: 'email_verification', email: user.email, ttlSeconds: TOKEN_TTL_SECONDS.email_verification }, tx)
    await outbox.enqueue([mails.verifyEmail(user.email, token)], tx)
  }

  return {
    /** Same answer and same work for unknown, inactive and known addresses; a repeat within the cooldown sends nothing. */
    async requestPasswordRecovery(email: string): Promise<void> {
      const address = email.toLowerCase()
      if (!(await limits.isOutsideCooldown(`recovery:${address}`))) return
      await issueForActiveAddress(db, clock, {
        email: address, purpose: 'password_reset', ttlSeconds: TOKEN_TTL_SECONDS.password_reset,
        mail: (token) => mails.passwordReset(address, token),
      })
      wake()
    },

    /** The new password is checked before the token is touched, so a 422 does not burn the link. */
    async resetPassword(token: string, newPassword: string): Promise<void> {
      assertHashable(newPassword, 'body.new_password')
      // Hashing costs tens of milliseconds: only for a token that looks good now (the consuming UPDATE still decides).
      if (!(await tokens.peek(token, 'password_reset'))) throw new BadRequestError(INVALID_LINK)
      const hashed_password = await hashPassword(newPassword, config.bcryptRounds)
      const userId = await db.transaction(async (tx) => {
        const { userId, provenEmail, user } = await consumeLocked(token, 'password_reset', tx)
        // The link reached the inbox: the address is proven too, if it is still the account's.
        const proven = provenEmail === user.email.toLowerCase()
        await users.update(userId, { hashed_password, ...(proven ? { email_verified: true } : {}) }, tx)
        await refreshTokens.revokeAllForUser(userId, tx)
        await revokeEmailTokensFor(tx, userId, ['password_reset'])
        await outbox.enqueue([mails.passwordChanged(user.email)], tx)
        return userId
      })
      cache?.invalidate(userId)
      wake()
    },

    /** In the sign-up transaction: the verification link, sent once it commits (call `wake`). */
    queueVerification,
    wake,

    async resendVerification(user: { id: number; email: string; email_verified: boolean }): Promise<void> {
      if (user.email_verified || !(await limits.isOutsideCooldown(`verification:${user.id}`))) return
      await db.transaction((tx) => queueVerification(user, tx))
      wake()
    },

    async verifyEmail(token: string): Promise<void> {
      const userId = await db.transaction(async (tx) => {
        const { userId, provenEmail, user } = await consumeLocked(token, 'email_verification', tx)
        // A link to an address the account no longer has proves nothing about the current one.
        if (provenEmail !== user.email.toLowerCase()) throw new BadRequestError(INVALID_LINK)
        await users.update(userId, { email_verified: true }, tx)
        return userId
      })
      cache?.invalidate(userId)
    },

    /** Mails a confirmation link to the new address and a notice to the current one; nothing changes until confirmed. */
    async requestEmailChange(user: { id: number; email: string }, newEmail: string, currentPassword: string): Promise<void> {
      const hash = await users.findHash(user.id)
      if (!hash) throw new NotFoundError('User not found')
      if (!(await verifyPassword(currentPassword, hash))) throw new BadRequestError('The current password is incorrect')
      const address = newEmail.toLowerCase()
      if (address === user.email.toLowerCase()) throw new ValidationError([{ field: 'body.new_email', message: 'is already your email' }])
      if (await users.findByEmailWithHash(address)) throw new ConflictError('A user with this email already exists')
      await db.transaction(async (tx) => {
        const token = await tokens.issue({ userId: user.id, purpose: 'email_change', email: address, ttlSeconds: TOKEN_TTL_SECONDS.email_change }, tx)
        await outbox.enqueue([mails.emailChange(address, token), mails.emailChangeNotice(user.email, address)], tx)
      })
      wake()
    },

    /** The new address is proven: it replaces the old one (409 if taken meanwhile) and every session ends. */
    async confirmEmailChange(token: string): Promise<void> {
      const userId = await db.transaction(async (tx) => {
        const { userId, provenEmail } = await consumeLocked(token, 'email_change', tx)
        // A unique violation here (taken meanwhile) is a 409 and rolls back: the link stays usable.
        await users.update(userId, { email: provenEmail, email_verified: true }, tx)
        await endSessions(userId, tx)
        // Links sent to the old address stop working: it is no longer the account's.
        await revokeEmailTokensFor(tx, userId, ['email_change_confirmed'])
        return userId
      })
      cache?.invalidate(userId)
    },
  }
}

export type AccountEmailService = ReturnType<typeof createAccountEmailService>
