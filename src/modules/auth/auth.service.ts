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

export function createAuthService(db: Db, config: Config) {
  const users = createUsersRepository(db)
  const refreshTokens = createRefreshTokensRepository(db)
  const accessTokens = createAccessTokens(config)
  // A hash of random bytes at the configured cost: unknown emails are compared against it so they cost as much as known ones.
  let dummyHash: Promise<string> | undefined
  const getDummyHash = () => (dummyHash ??= hashPassword(randomBytes(16).toString('hex'), config.bcryptRounds))

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
        await verifyPassword(password, await getDummyHash())
        throw new UnauthorizedError(BAD_CREDENTIALS)
      }
      if (!(await verifyPassword(password, user.hashed_password))) throw new UnauthorizedError(BAD_CREDENTIALS)
      if (!user.is_active) throw new ForbiddenError('This account is disabled')
      const auth = await users.findForAuth(user.id)
      if (!auth) throw new UnauthorizedError(BAD_CREDENTIALS)
      await refreshTokens.deleteExpired(user.id)
      return issue(user.id, auth.token_version, randomUUID())
    },

    /**
     * Rotates a refresh token: the presented one dies, a new one of the same family is issued.
     * Presenting an already-rotated token means it was copied: every refresh token of the user is revoked.
     */
    async refresh(token: string): Promise<TokenPair> {
      const outcome = await db.transaction(async (tx) => {
        const row = await refreshTokens.findByHash(hashRefreshToken(token), tx)
        if (!row || row.revoked_at || row.expires_at.getTime() <= Date.now()) return undefined
        if (row.rotated_at || !(await refreshTokens.markRotated(row.id, tx))) {
          await refreshTokens.revokeAllForUser(row.user_id, tx)
          return 'reused' as const
        }
        const user = await users.findForAuth(row.user_id, tx)
        if (!user?.is_active) return undefined
        return issue(user.id, user.token_version, row.family_id, tx)
      })
      if (outcome === 'reused') throw new UnauthorizedError('Refresh token reuse detected: every session of this user was revoked')
      if (!outcome) throw new UnauthorizedError('Invalid or expired refresh token')
      return outcome
    },

    /** Ends the session (the token's family). Idempotent: unknown, expired or revoked tokens are fine. */
    async logout(token: string): Promise<void> {
      const row = await refreshTokens.findByHash(hashRefreshToken(token))
      if (row) await refreshTokens.revokeFamily(row.family_id)
    },
  }
}
