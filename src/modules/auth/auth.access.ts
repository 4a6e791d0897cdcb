import type { Config } from '../../config.js'
import type { Db } from '../../db/client.js'
import type { AuthUser } from '../../plugins/auth.js'
import { UnauthorizedError } from '../../shared/errors.js'
import { createUsersRepository } from '../users/users.repository.js'
import { createAccessTokens } from './auth.tokens.js'

/**
 * Turns a bearer token into the current user. The user is read on every request, so a deleted or
 * deactivated user, or a password change (token version bump), takes effect immediately.
 */
export function createAccessResolver(db: Db, config: Config): (token: string) => Promise<AuthUser> {
  const tokens = createAccessTokens(config)
  const users = createUsersRepository(db)
  return async (token) => {
    const { userId, tokenVersion } = tokens.verify(token)
    const row = await users.findForAuth(userId)
    if (!row || !row.is_active || row.token_version !== tokenVersion) throw new UnauthorizedError('Could not validate credentials')
    const { token_version: _version, ...user } = row
    return user
  }
}
