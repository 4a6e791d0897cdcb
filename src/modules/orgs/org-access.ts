import { ForbiddenError, NotFoundError } from '../../shared/errors.js'
import type { MembershipResolver } from './memberships.js'
import { isAtLeast, type Role } from './roles.js'

/**
 * The one answer for an org the caller cannot see, whether it does not exist or the caller is not a member: the
 * same status and body, so an org's existence never leaks (SPEC §8). The resource core answers it too.
 */
export const orgNotFound = () => new NotFoundError('Organization not found')

export const roleTooLow = (minimum: Role) => new ForbiddenError(`This needs the ${minimum} role or higher in this organization`)

/** The caller's role in the org, checked against `minimum`: 404 for a non-member, 403 below it. */
export async function requireRole(resolver: MembershipResolver, orgId: number, userId: number, minimum: Role): Promise<Role> {
  const role = await resolver.roleOf(orgId, userId)
  if (role === undefined) throw orgNotFound()
  if (!isAtLeast(role, minimum)) throw roleTooLow(minimum)
  return role
}
