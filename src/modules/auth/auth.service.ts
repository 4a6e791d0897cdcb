import { randomBytes, randomUUID } from 'node:crypto'
import type { Config } from '../../config.js'
import type { Db } from '../../db/client.js'
import { ForbiddenError, UnauthorizedError } from '../../shared/errors.js'
import { hashPassword, verifyPassword } from '../users/passwords.js'
import { createUsersRepository } from '../users/users.repository.js'
import { createAccessTokens, hashRefreshToken, newRefreshToken } from './auth.tokens.js'
import { createRefreshTokensRepository } from './refresh-tokens.repository.js'

export interface TokenPair {
  access_token: string
  refresh_token: string
  token_type: 'bearer'
  expires_in: number
}

const BAD_CREDENTIALS = 'Incorrect email or password'

/**
 * `onUnverifiedLogin` runs when REQUIRE_EMAIL_VERIFICATION refuses a correct login: the user cannot reach the
 * authenticated resend route, so the login itself sends a new link (within the account email cooldown).
 */
export function createAuthService(db: Db, config: Config, onUnverifiedLogin?: (user: { id: number; email: string; email_verified: boolean }) => Promise<void>) {
  const users = createUsersRepository(db)
  const refreshTokens = createRefreshTokensRepository(db)
  const accessTokens = createAccessTokens(config)
  // A hash of random bytes at the configured cost: unknown emails are compared against it so they cost as much as known ones.
  // Started now, not at the first unknown email, so that login does not also pay for hashing (and stand out by its timing).
  const dummyHash = hashPassword(randomBytes(16).toString('hex'), config.bcryptRounds)

  async function issue(userId: number, tokenVersion: number, familyId: string, tx: Db = db): Promise<TokenPair> {
    const refresh = newRefreshToken()
    await refreshTokens.insert({
      user_id: userId,
      family_id: familyId,
      token_hash: refresh.hash,
      expires_at: new Date(Date.now() + config.refreshTokenTtlSeconds * 1000),
    }, tx)
    return {
      access_token: accessTokens.sign(userId, tokenVersion),
      refresh_token: refresh.token,
      token_type: 'bearer',
      expires_in: config.accessTokenTtlSeconds,
    }
  }

  return {
    /** Same 401 for an unknown email and a wrong password; 403 only once the password is proven. */
    async login(email: string, password: string): Promise<TokenPair> {
      const user = await users.findByEmailWithHash(email)
      if (!user) {
        await verifyPassword(password, await dummyHash)
        throw new UnauthorizedError(BAD_CREDENTIALS)
      }
      if (!(await verifyPassword(password, user.hashed_password))) throw new UnauthorizedError(BAD_CREDENTIALS)
      if (!user.is_active) throw new ForbiddenError('This account is disabled')
      if (config.mail.requireVerification && !user.email_verified) {
        await onUnverifiedLogin?.(user)
        throw new ForbiddenError('Confirm your email address first: a verification link is mailed to it', 'email_not_verified')
      }
      return db.transaction(async (tx) => {
        // bcrypt took a while: if the password or the account changed meanwhile, the check above proves nothing.
        const current = await users.lockForAuth(user.id, tx)
        if (!current || current.hashed_password !== user.hashed_password || current.token_version !== user.token_version) {
          throw new UnauthorizedError(BAD_CREDENTIALS)
        }
        if (!current.is_active) throw new ForbiddenError('This account is disabled')
        await refreshTokens.deleteExpired(user.id, tx)
        return issue(user.id, current.token_version, randomUUID(), tx)
      })
    },

    /**
     * Rotates a refresh token: the presented one dies, a new one of the same family is issued.
     * Presenting an already-rotated token means it was copied: every refresh token of the user is revoked.
     */
    async refresh(token: string): Promise<TokenPair> {
      const tokenHash = hashRefreshToken(token)
      const outcome = await db.transaction(async (tx) => {
        const found = await refreshTokens.findByHash(tokenHash, tx)
        if (!found) return undefined
        // User row first, then token rows: the order password change and deletion use, so no deadlock, and a
        // concurrent change either revokes the token we read next or waits until our new token exists.
        const user = await users.lockForAuth(found.user_id, tx)
        const row = await refreshTokens.findByHash(tokenHash, tx)
        if (!user || !row || row.revoked_at || row.expires_at.getTime() <= Date.now()) return undefined
        if (row.rotated_at || !(await refreshTokens.markRotated(row.id, tx))) {
          // A copy of a used token: end every session, access tokens included.
          await refreshTokens.revokeAllForUser(row.user_id, tx)
          await users.bumpTokenVersion(row.user_id, tx)
          return 'reused' as const
        }
        if (!user.is_active) return undefined
        return issue(row.user_id, user.token_version, row.family_id, tx)
      })
      if (outcome === 'reused') throw new UnauthorizedError('Refresh token reuse detected: every session of this user was revoked')
      if (!outcome) throw new UnauthorizedError('Invalid or expired refresh token')
      return outcome
    },

    /** Ends the session (the token's family). Idempotent: unknown, expired or revoked tokens are fine. */
    async logout(token: string): Promise<void> {
      const row = await refreshTokens.findByHash(hashRefreshToken(token))
      if (!row) return
      // The user row first, like every other path on this user's tokens (see lockForAuth).
      await db.transaction(async (tx) => {
        await users.lockForAuth(row.user_id, tx)
        await refreshTokens.revokeFamily(row.family_id, tx)
      })
    },
  }
}
