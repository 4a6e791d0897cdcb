import { and, asc, eq, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { isUniqueViolation } from '../../db/errors.js'
import { ConflictError } from '../../shared/errors.js'
import { createPagedLists, type Listing, type Position } from '../../shared/listing.js'
import { users } from './users.table.js'

/** The columns a client may see: never the hash or the token version. */
export const publicUserColumns = {
  id: users.id,
  email: users.email,
  full_name: users.full_name,
  is_active: users.is_active,
  is_superuser: users.is_superuser,
  email_verified: users.email_verified,
  created_at: users.created_at,
  updated_at: users.updated_at,
}

export type PublicUser = { [K in keyof typeof publicUserColumns]: (typeof users.$inferSelect)[K] }

export interface UserChanges {
  email?: string
  full_name?: string | null
  hashed_password?: string
  is_active?: boolean
  is_superuser?: boolean
  email_verified?: boolean
}

const emailTaken = (cause: unknown) => Object.assign(new ConflictError('A user with this email already exists'), { cause })

/** The database decides email uniqueness (unique index on lower(email)): no read-then-write race. */
async function translateConflict<T>(query: Promise<T>): Promise<T> {
  try {
    return await query
  } catch (err) {
    if (isUniqueViolation(err)) throw emailTaken(err)
    throw err
  }
}

export function createUsersRepository(db: Db) {
  // Read on every authenticated request that misses the user cache: built once, prepared on each connection.
  const findForAuth = db.select({ ...publicUserColumns, token_version: users.token_version }).from(users)
    .where(eq(users.id, sql.placeholder('id'))).prepare('users_find_for_auth')
  const pages = createPagedLists<PublicUser>(db, 'users_list', users, publicUserColumns)

  return {
    async insert(values: { email: string; hashed_password: string; full_name?: string | null; is_superuser?: boolean }, tx: Db = db): Promise<PublicUser> {
      const [row] = await translateConflict(tx.insert(users).values(values).returning(publicUserColumns))
      return row!
    },

    /** Creates the user unless the email exists; safe when several instances start at once. */
    async insertIfAbsent(values: { email: string; hashed_password: string; is_superuser: boolean; email_verified: boolean }): Promise<boolean> {
      const rows = await db.insert(users).values(values).onConflictDoNothing().returning({ id: users.id })
      return rows.length > 0
    },

    async findById(id: number, tx: Db = db): Promise<PublicUser | undefined> {
      const [row] = await tx.select(publicUserColumns).from(users).where(eq(users.id, id))
      return row
    },

    /** What authentication needs: the public user plus the token version. */
    async findForAuth(id: number) {
      const [row] = await findForAuth.execute({ id })
      return row
    },

    async findByEmailWithHash(email: string) {
      const [row] = await db.select({ ...publicUserColumns, hashed_password: users.hashed_password, token_version: users.token_version })
        .from(users).where(eq(sql`lower(${users.email})`, email.toLowerCase()))
      return row
    },

    /**
     * Reads what a token decision rests on and locks the row until `tx` ends, so a concurrent password change,
     * deactivation or deletion either happens before (and is seen) or waits for us. Every path that touches a user's
     * tokens takes this lock first, then token rows: one lock order, so no deadlock. It is FOR NO KEY UPDATE, not
     * FOR SHARE: two holders of a share lock that both go on to update the row (reuse bumps token_version) deadlock.
     */
    async lockForAuth(id: number, tx: Db) {
      const [row] = await tx.select({ email: users.email, is_active: users.is_active, token_version: users.token_version, hashed_password: users.hashed_password })
        .from(users).where(eq(users.id, id)).for('no key update')
      return row
    },

    /** Makes every access token issued so far fail (they carry the old version). */
    async bumpTokenVersion(id: number, tx: Db = db): Promise<void> {
      await tx.update(users).set({ token_version: sql`${users.token_version} + 1` }).where(eq(users.id, id))
    },

    async findHash(id: number): Promise<string | undefined> {
      const [row] = await db.select({ hashed_password: users.hashed_password }).from(users).where(eq(users.id, id))
      return row?.hashed_password
    },

    /** An offset page (with its total), or with `cursor` sent a keyset page after `after` (SPEC §9), by id. */
    list(query: { skip: number; limit: number; cursor?: string | undefined; after?: Position | undefined }): Promise<Listing<PublicUser>> {
      const shape = () => ({ where: [], orderBy: [asc(users.id)], keyset: { column: undefined, tie: users.id, descending: false } })
      return query.cursor === undefined
        ? pages.list('id', shape, {}, query.skip, query.limit)
        : pages.listAfter('id', shape, {}, query.after, query.limit)
    },

    /**
     * Applies `changes` and stamps updated_at (an empty change touches nothing). A password change or a
     * deactivation also invalidates every access token issued before, so reactivation does not revive them.
     */
    async update(id: number, changes: UserChanges, tx: Db = db): Promise<PublicUser | undefined> {
      if (Object.keys(changes).length === 0) return this.findById(id, tx)
      const endsSessions = changes.hashed_password !== undefined || changes.is_active === false
      const set = {
        ...changes,
        updated_at: sql`now()`,
        ...(endsSessions ? { token_version: sql`${users.token_version} + 1` } : {}),
      }
      const [row] = await translateConflict(tx.update(users).set(set).where(eq(users.id, id)).returning(publicUserColumns))
      return row
    },

    async delete(id: number, tx: Db = db): Promise<boolean> {
      const rows = await tx.delete(users).where(eq(users.id, id)).returning({ id: users.id })
      return rows.length > 0
    },

    /**
     * Locks every active superuser row (FOR UPDATE) inside `tx` and says whether removing `id` (deleting, deactivating or demoting it) still leaves an active superuser.
     * Two admins demoting each other at once serialise here, so one superuser always survives.
     */
    async isSafeToRemoveSuperuser(id: number, tx: Db): Promise<boolean> {
      const rows = await tx.select({ id: users.id }).from(users)
        .where(and(eq(users.is_superuser, true), eq(users.is_active, true))).for('update')
      return rows.some((r) => r.id !== id) || !rows.some((r) => r.id === id)
    },
  }
}

export type UsersRepository = ReturnType<typeof createUsersRepository>
