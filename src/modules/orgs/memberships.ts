import { and, eq, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { onPrimary } from '../../db/request-context.js'
import { memberships } from './orgs.table.js'
import { isRole, type Role } from './roles.js'

/** The caller's role in an org, as the resource core and the org routes ask for it on every request. */
export interface MembershipResolver {
  /** The user's current role in the org, or undefined when it is not a member (or the org does not exist). */
  roleOf(orgId: number, userId: number): Promise<Role | undefined>
}

/** Reads the role from the database on every call (the cached resolver wraps this). */
export function createMembershipReader(db: Db): MembershipResolver {
  const findRole = db.select({ role: memberships.role }).from(memberships)
    .where(and(eq(memberships.org_id, sql.placeholder('orgId')), eq(memberships.user_id, sql.placeholder('userId'))))
    .prepare('memberships_role_of')
  return {
    async roleOf(orgId, userId) {
      // On the primary even for a GET served by a replica: a removal by an admin must hold on the next request.
      // Awaited inside: a lazy query started after onPrimary returned would run outside its context.
      const [row] = await onPrimary(async () => await findRole.execute({ orgId, userId }))
      return row && isRole(row.role) ? row.role : undefined
    },
  }
}
