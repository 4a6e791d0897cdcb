import { asc, eq, inArray, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { ConflictError } from '../../shared/errors.js'
import { memberships, orgs } from './orgs.table.js'

/**
 * What an account's deletion does to its orgs (SPEC §8), inside the deletion's transaction: 409 naming the org when
 * the account is the last owner of an org that has other members; the orgs it is the only member of are deleted
 * with it. The account's orgs are locked first (by id, the same row lock every membership change takes), so an owner
 * promoted or a member joining meanwhile is either seen here or waits.
 */
export async function releaseOrgsOfDeletedUser(userId: number, tx: Db): Promise<void> {
  const mine = await tx.select({ id: orgs.id, name: orgs.name, role: memberships.role }).from(memberships)
    .innerJoin(orgs, eq(orgs.id, memberships.org_id)).where(eq(memberships.user_id, userId))
    .orderBy(asc(orgs.id)).for('no key update', { of: orgs })
  const owned = mine.filter((m) => m.role === 'owner')
  if (owned.length === 0) return
  const counts = await tx.select({
    org_id: memberships.org_id,
    owners: sql<number>`count(*) filter (where ${memberships.role} = 'owner')`.mapWith(Number),
    members: sql<number>`count(*)`.mapWith(Number),
  }).from(memberships).where(inArray(memberships.org_id, owned.map((o) => o.id))).groupBy(memberships.org_id)
  const blocking = owned.filter((o) => counts.some((c) => c.org_id === o.id && c.owners === 1 && c.members > 1))
  if (blocking.length) {
    const names = blocking.map((o) => `"${o.name}" (id ${o.id})`).join(', ')
    throw new ConflictError(`This account is the last owner of ${names}, which has other members: make one of them owner, or delete the organization, first`)
  }
  const alone = owned.filter((o) => counts.some((c) => c.org_id === o.id && c.members === 1)).map((o) => o.id)
  if (alone.length) await tx.delete(orgs).where(inArray(orgs.id, alone))
}
