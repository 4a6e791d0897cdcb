import { and, eq, inArray, isNull, lt, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { refreshTokens } from './refresh-tokens.table.js'

export function createRefreshTokensRepository(db: Db) {
  return {
    async insert(values: { user_id: number; family_id: string; token_hash: string; expires_at: Date }, tx: Db = db): Promise<void> {
      await tx.insert(refreshTokens).values(values)
    },

    async findByHash(tokenHash: string, tx: Db = db) {
      const [row] = await tx.select().from(refreshTokens).where(eq(refreshTokens.token_hash, tokenHash))
      return row
    },

    /** Marks a live token rotated; false when another request rotated or revoked it first (the row is the arbiter). */
    async markRotated(id: number, tx: Db = db): Promise<boolean> {
      const rows = await tx.update(refreshTokens).set({ rotated_at: sql`now()` })
        .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.rotated_at), isNull(refreshTokens.revoked_at)))
        .returning({ id: refreshTokens.id })
      return rows.length > 0
    },

    async revokeFamily(familyId: string, tx: Db = db): Promise<void> {
      await tx.update(refreshTokens).set({ revoked_at: sql`now()` })
        .where(and(eq(refreshTokens.family_id, familyId), isNull(refreshTokens.revoked_at)))
    },

    async revokeAllForUser(userId: number, tx: Db = db): Promise<void> {
      await tx.update(refreshTokens).set({ revoked_at: sql`now()` })
        .where(and(eq(refreshTokens.user_id, userId), isNull(refreshTokens.revoked_at)))
    },

    /** Drops one user's expired tokens: past expiry they prove nothing, not even reuse. Call it holding the user's lock. */
    async deleteExpired(userId: number, tx: Db = db): Promise<number> {
      const rows = await tx.delete(refreshTokens)
        .where(and(eq(refreshTokens.user_id, userId), lt(refreshTokens.expires_at, sql`now()`)))
        .returning({ id: refreshTokens.id })
      return rows.length
    },

    /**
     * Drops every user's expired tokens without taking user locks, so it skips rows another transaction holds
     * (they go at the next sweep) instead of waiting on them out of lock order.
     */
    async sweepExpired(): Promise<number> {
      const rows = await db.delete(refreshTokens).where(inArray(refreshTokens.id,
        db.select({ id: refreshTokens.id }).from(refreshTokens).where(lt(refreshTokens.expires_at, sql`now()`)).for('update', { skipLocked: true })))
        .returning({ id: refreshTokens.id })
      return rows.length
    },
  }
}

export type RefreshTokensRepository = ReturnType<typeof createRefreshTokensRepository>
