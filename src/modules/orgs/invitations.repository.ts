import { createHash, randomBytes } from 'node:crypto'
import { and, asc, count, eq, gt, lt, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { toPage, type Page } from '../../shared/schemas.js'
import type { Clock } from '../account-email/email-tokens.repository.js'
import { invitations } from './invitations.table.js'
import type { Role } from './roles.js'

export interface Invitation {
  id: number
  org_id: number
  email: string
  role: Role
  invited_by: number | null
  created_at: Date
  expires_at: Date
}

const columns = {
  id: invitations.id, org_id: invitations.org_id, email: invitations.email, role: sql<Role>`${invitations.role}`,
  invited_by: invitations.invited_by, created_at: invitations.created_at, expires_at: invitations.expires_at,
}

const hashToken = (token: string) => createHash('sha256').update(token).digest('hex')

/** Invitations, with the token rules of SPEC §6: 32 random bytes in the link, only their SHA-256 here. */
export function createInvitationsRepository(db: Db, clock: Clock) {
  const live = () => gt(invitations.expires_at, clock())
  return {
    /**
     * The pending invitation of this address to this org, replacing any earlier one (its link dies with its hash).
     * Returns the row and the token, which exists only in the mail.
     */
    async upsert(input: { orgId: number; email: string; role: Role; invitedBy: number; ttlSeconds: number }, tx: Db) {
      const token = randomBytes(32).toString('base64url')
      const values = {
        role: input.role, token_hash: hashToken(token), invited_by: input.invitedBy,
        created_at: clock(), expires_at: new Date(clock().getTime() + input.ttlSeconds * 1000),
      }
      const [row] = await tx.insert(invitations).values({ org_id: input.orgId, email: input.email, ...values })
        .onConflictDoUpdate({ target: [invitations.org_id, invitations.email], set: values })
        .returning(columns)
      return { invitation: row!, token }
    },

    /** A live invitation for this token, without using it (who it is for decides whether it may be used). */
    async peek(token: string, tx: Db): Promise<Invitation | undefined> {
      const [row] = await tx.select(columns).from(invitations).where(and(eq(invitations.token_hash, hashToken(token)), live()))
      return row
    },

    /** Uses the token up: one DELETE decides, so of two requests with the same token exactly one gets the row. */
    async consume(token: string, tx: Db): Promise<Invitation | undefined> {
      const [row] = await tx.delete(invitations).where(and(eq(invitations.token_hash, hashToken(token)), live())).returning(columns)
      return row
    },

    /** Pending (unexpired) invitations of an org, oldest first. */
    async list(orgId: number, skip: number, limit: number): Promise<Page<Invitation>> {
      const where = and(eq(invitations.org_id, orgId), live())
      const [rows, [total]] = await Promise.all([
        db.select(columns).from(invitations).where(where).orderBy(asc(invitations.id)).limit(limit).offset(skip),
        db.select({ total: count() }).from(invitations).where(where),
      ])
      return toPage(rows, total!.total, skip, limit)
    },

    /** Drops invitations expired a day ago: their links can never be used, and the table would only grow. */
    async sweepExpired(): Promise<number> {
      const dayAgo = new Date(clock().getTime() - 86_400_000)
      const rows = await db.delete(invitations).where(lt(invitations.expires_at, dayAgo)).returning({ id: invitations.id })
      return rows.length
    },

    async revoke(orgId: number, id: number): Promise<boolean> {
      const rows = await db.delete(invitations).where(and(eq(invitations.org_id, orgId), eq(invitations.id, id))).returning({ id: invitations.id })
      return rows.length > 0
    },
  }
}
