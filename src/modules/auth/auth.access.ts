import type { Config } from '../../config.js'
import type { Db } from '../../db/client.js'
import type { AuthUser } from '../../plugins/auth.js'
import { UnauthorizedError } from '../../shared/errors.js'
import type { UserCache } from '../users/users.cache.js'
import { createUsersRepository } from '../users/users.repository.js'
import { createAccessTokens } from './auth.tokens.js'

/**
 * Turns a bearer token into the current user. The user comes from the user cache (invalidated on every
 * change, see users.cache.ts) or the database, so a deleted or deactivated user, or a password change
 * (token version bump), takes effect at once.
 */
export function createAccessResolver(db: Db, config: Config, cache: UserCache): (token: string) => Promise<AuthUser> {
  const tokens = createAccessTokens(config)
  const users = createUsersRepository(db)
  return async (token) => {
    const { userId, tokenVersion } = tokens.verify(token)
    let row = cache.get(userId)
    if (!row) {
      const readAt = cache.generation()
      row = await users.findForAuth(userId)
      if (row) cache.set(row, readAt)
    }
    if (!row || !row.is_active || row.token_version !== tokenVersion) throw new UnauthorizedError('Could not validate credentials')
    const { token_version: _version, ...user } = row
    return user
  }
}
