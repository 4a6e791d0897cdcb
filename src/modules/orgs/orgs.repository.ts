import { and, asc, count, eq, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { toPage, type Page } from '../../shared/schemas.js'
import { users } from '../users/users.table.js'
import { memberships, orgs } from './orgs.table.js'
import type { Role } from './roles.js'

export interface OrgRow {
  id: number
  name: string
  slug: string
  created_at: Date
  updated_at: Date | null
}
export type Org = OrgRow & { role: Role }

export interface Member {
  user_id: number
  email: string
  full_name: string | null
  role: Role
  created_at: Date
}

const orgColumns = { id: orgs.id, name: orgs.name, slug: orgs.slug, created_at: orgs.created_at, updated_at: orgs.updated_at }
const memberColumns = {
  user_id: memberships.user_id, email: users.email, full_name: users.full_name, role: sql<Role>`${memberships.role}`, created_at: memberships.created_at,
}
const withRole = sql<Role>`${memberships.role}`

/** Orgs and memberships. Every statement names the org (and, for a caller's view, the caller) in its WHERE. */
export function createOrgsRepository(db: Db) {
  const memberOf = (orgId: number, userId: number) => and(eq(memberships.org_id, orgId), eq(memberships.user_id, userId))

  return {
    async insert(values: { name: string; slug: string }, tx: Db): Promise<OrgRow> {
      const [row] = await tx.insert(orgs).values(values).returning(orgColumns)
      return row!
    },

    async addMember(orgId: number, userId: number, role: Role, tx: Db = db): Promise<void> {
      await tx.insert(memberships).values({ org_id: orgId, user_id: userId, role })
    },

    /** The org as `userId` sees it (with its role), or undefined when it is not a member: one answer for both cases. */
    async findForMember(orgId: number, userId: number, tx: Db = db): Promise<Org | undefined> {
      const [row] = await tx.select({ ...orgColumns, role: withRole }).from(orgs)
        .innerJoin(memberships, eq(memberships.org_id, orgs.id)).where(and(eq(orgs.id, orgId), eq(memberships.user_id, userId)))
      return row
    },

    async listForUser(userId: number, skip: number, limit: number): Promise<Page<Org>> {
      const [rows, [total]] = await Promise.all([
        db.select({ ...orgColumns, role: withRole }).from(memberships).innerJoin(orgs, eq(orgs.id, memberships.org_id))
          .where(eq(memberships.user_id, userId)).orderBy(asc(orgs.id)).limit(limit).offset(skip),
        db.select({ total: count() }).from(memberships).where(eq(memberships.user_id, userId)),
      ])
      return toPage(rows, total!.total, skip, limit)
    },

    async update(orgId: number, changes: { name?: string; slug?: string }, tx: Db): Promise<void> {
      await tx.update(orgs).set({ ...changes, updated_at: sql`now()` }).where(eq(orgs.id, orgId))
    },

    async delete(orgId: number, tx: Db): Promise<void> {
      await tx.delete(orgs).where(eq(orgs.id, orgId))
    },

    /**
     * Locks the org row until `tx` ends and reads `userId`'s role in it. Every change to an org's memberships takes
     * this lock first, so two of them (two owners demoting each other) run one after the other and the second sees
     * the first's outcome. FOR NO KEY UPDATE: it does not block inserts that merely reference the org.
     */
    async lockForChange(orgId: number, userId: number, tx: Db): Promise<Role | undefined> {
      const [locked] = await tx.select({ id: orgs.id }).from(orgs).where(eq(orgs.id, orgId)).for('no key update')
      if (!locked) return undefined
      return this.roleOf(orgId, userId, tx)
    },

    async roleOf(orgId: number, userId: number, tx: Db = db): Promise<Role | undefined> {
      const [row] = await tx.select({ role: withRole }).from(memberships).where(memberOf(orgId, userId))
      return row?.role
    },

    async countOwners(orgId: number, tx: Db): Promise<number> {
      const [row] = await tx.select({ n: count() }).from(memberships).where(and(eq(memberships.org_id, orgId), eq(memberships.role, 'owner')))
      return row!.n
    },

    async setRole(orgId: number, userId: number, role: Role, tx: Db): Promise<void> {
      await tx.update(memberships).set({ role, updated_at: sql`now()` }).where(memberOf(orgId, userId))
    },

    async removeMember(orgId: number, userId: number, tx: Db): Promise<void> {
      await tx.delete(memberships).where(memberOf(orgId, userId))
    },

    async findMember(orgId: number, userId: number, tx: Db = db): Promise<Member | undefined> {
      const [row] = await tx.select(memberColumns).from(memberships).innerJoin(users, eq(users.id, memberships.user_id))
        .where(memberOf(orgId, userId))
      return row
    },

    async listMembers(orgId: number, skip: number, limit: number): Promise<Page<Member>> {
      const [rows, [total]] = await Promise.all([
        db.select(memberColumns).from(memberships).innerJoin(users, eq(users.id, memberships.user_id))
          .where(eq(memberships.org_id, orgId)).orderBy(asc(memberships.id)).limit(limit).offset(skip),
        db.select({ total: count() }).from(memberships).where(eq(memberships.org_id, orgId)),
      ])
      return toPage(rows, total!.total, skip, limit)
    },

    /** Whether the account with this (lower-cased) email is already a member. */
    async hasMemberWithEmail(orgId: number, email: string, tx: Db = db): Promise<boolean> {
      const [row] = await tx.select({ id: memberships.id }).from(memberships).innerJoin(users, eq(users.id, memberships.user_id))
        .where(and(eq(memberships.org_id, orgId), eq(sql`lower(${users.email})`, email)))
      return row !== undefined
    },
  }
}

export type OrgsRepository = ReturnType<typeof createOrgsRepository>
