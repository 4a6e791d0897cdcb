import type { Config } from '../../config.js'
import type { Db } from '../../db/client.js'
import { BadRequestError, ConflictError, NotFoundError } from '../../shared/errors.js'
import { createRefreshTokensRepository } from '../auth/refresh-tokens.repository.js'
import { assertHashable, hashPassword, verifyPassword } from './passwords.js'
import type { AccountEmailService } from '../account-email/account-email.service.js'
import { revokeEmailTokensFor, type AccountEvent } from '../account-email/token-revocation.js'
import { releaseOrgsOfDeletedUser } from '../orgs/account-deletion.js'
import type { UserCache } from './users.cache.js'
import { createUsersRepository, type PublicUser, type UserChanges } from './users.repository.js'
import type { PasswordChange, UserAdminUpdate, UserCreate, UserUpdateMe } from './users.schemas.js'

const LAST_SUPERUSER = 'The last active superuser cannot be deleted, deactivated or demoted'

/** What the users module asks of account email: the sign-up verification mail. */
export type UsersAccountEmail = Pick<AccountEmailService, 'queueVerification' | 'wake'>

/**
 * `cache` is told of every change this process makes, before the answer leaves (other processes hear a NOTIFY).
 * `accountEmail` is absent only for start-up tasks (first superuser), which send no mail.
 */
export function createUsersService(db: Db, config: Pick<Config, 'bcryptRounds'>, cache?: Pick<UserCache, 'afterChange'>, accountEmail?: UsersAccountEmail) {
  const repo = createUsersRepository(db)
  const refreshTokens = createRefreshTokensRepository(db)

  /** Runs a change in a transaction; one that may remove a superuser's power keeps at least one. */
  async function guardLastSuperuser<T>(id: number, removesPower: boolean, change: (tx: Db) => Promise<T>): Promise<T> {
    return db.transaction(async (tx) => {
      if (removesPower && !(await repo.isSafeToRemoveSuperuser(id, tx))) throw new ConflictError(LAST_SUPERUSER)
      return change(tx)
    })
  }

  /** What a superuser's edit settles about who controls the account (see account-email/token-revocation.ts). */
  const adminEvents = (changes: UserChanges): AccountEvent[] => [
    ...(changes.hashed_password !== undefined ? ['password_set_by_superuser' as const] : []),
    ...(changes.email !== undefined ? ['email_set_by_superuser' as const] : []),
    ...(changes.is_active === false ? ['deactivated' as const] : []),
  ]

  async function toChanges(input: UserAdminUpdate): Promise<UserChanges> {
    const { password, email, ...rest } = input
    const changes: UserChanges = { ...rest }
    // Set by a superuser, an address is unproven until its owner verifies it.
    if (email !== undefined) Object.assign(changes, { email: email.toLowerCase(), email_verified: false })
    if (password !== undefined) {
      assertHashable(password, 'body.password')
      changes.hashed_password = await hashPassword(password, config.bcryptRounds)
    }
    return changes
  }

  return {
    /** The account and its verification mail are committed together. */
    async signUp(input: UserCreate): Promise<PublicUser> {
      assertHashable(input.password, 'body.password')
      const hashed_password = await hashPassword(input.password, config.bcryptRounds)
      const user = await db.transaction(async (tx) => {
        const created = await repo.insert({ email: input.email.toLowerCase(), full_name: input.full_name ?? null, hashed_password }, tx)
        await accountEmail?.queueVerification(created, tx)
        return created
      })
      accountEmail?.wake()
      return user
    },

    /** Creates FIRST_SUPERUSER_* when absent; idempotent across restarts and concurrent instances. */
    async ensureSuperuser(email: string, password: string): Promise<boolean> {
      assertHashable(password, 'FIRST_SUPERUSER_PASSWORD')
      if (await repo.findByEmailWithHash(email)) return false
      // The operator chose this address: it counts as verified, so REQUIRE_EMAIL_VERIFICATION cannot lock it out.
      return repo.insertIfAbsent({ email: email.toLowerCase(), hashed_password: await hashPassword(password, config.bcryptRounds), is_superuser: true, email_verified: true })
    },

    async get(id: number): Promise<PublicUser> {
      const user = await repo.findById(id)
      if (!user) throw new NotFoundError('User not found')
      return user
    },

    list: (query: Parameters<typeof repo.list>[0]) => repo.list(query),

    async updateMe(id: number, input: UserUpdateMe): Promise<PublicUser> {
      const user = await repo.update(id, await toChanges(input))
      await cache?.afterChange(id)
      if (!user) throw new NotFoundError('User not found')
      return user
    },

    /** Superuser edit of any account; never leaves the service without an active superuser. */
    async updateAny(id: number, input: UserAdminUpdate): Promise<PublicUser> {
      const changes = await toChanges(input)
      const removesPower = changes.is_active === false || changes.is_superuser === false
      const user = await guardLastSuperuser(id, removesPower, async (tx) => {
        const updated = await repo.update(id, changes, tx)
        // A deactivated user, or a new password, ends every session at once.
        if (updated && (changes.hashed_password || changes.is_active === false)) await refreshTokens.revokeAllForUser(id, tx)
        if (updated) await revokeEmailTokensFor(tx, id, adminEvents(changes))
        return updated
      })
      await cache?.afterChange(id)
      if (!user) throw new NotFoundError('User not found')
      return user
    },

    async changePassword(id: number, input: PasswordChange): Promise<void> {
      const hash = await repo.findHash(id)
      if (!hash) throw new NotFoundError('User not found')
      if (!(await verifyPassword(input.current_password, hash))) throw new BadRequestError('The current password is incorrect')
      assertHashable(input.new_password, 'body.new_password')
      const hashed_password = await hashPassword(input.new_password, config.bcryptRounds)
      await db.transaction(async (tx) => {
        await repo.update(id, { hashed_password }, tx)
        await refreshTokens.revokeAllForUser(id, tx)
        await revokeEmailTokensFor(tx, id, ['password_changed'])
      })
      await cache?.afterChange(id)
    },

    async delete(id: number): Promise<void> {
      const deleted = await guardLastSuperuser(id, true, async (tx) => {
        await releaseOrgsOfDeletedUser(id, tx)
        return repo.delete(id, tx)
      })
      await cache?.afterChange(id)
      if (!deleted) throw new NotFoundError('User not found')
    },
  }
}

export type UsersService = ReturnType<typeof createUsersService>
