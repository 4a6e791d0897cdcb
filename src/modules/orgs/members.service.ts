import type { Db } from '../../db/client.js'
import { ConflictError, ForbiddenError, NotFoundError } from '../../shared/errors.js'
import type { Page } from '../../shared/schemas.js'
import { orgNotFound, requireRole, roleTooLow } from './org-access.js'
import { createOrgsRepository, type Member } from './orgs.repository.js'
import type { OrgsDeps } from './orgs.service.js'
import { isAtLeast, type Role } from './roles.js'

export const LAST_OWNER = 'An organization keeps at least one owner: make another member owner first'
const OWNERS_ONLY = 'Only an owner grants or removes the owner role, or changes another owner'

const memberNotFound = () => new NotFoundError('Member not found')

/**
 * Who may do what to a membership (SPEC §8): admins and owners manage members; only an owner touches the owner
 * role (granting it, or changing or removing an owner). Leaving is always allowed, bar the last-owner rule.
 */
export function assertMayChange(actor: Role, current: Role, next: Role | undefined): void {
  if (!isAtLeast(actor, 'admin')) throw roleTooLow('admin')
  if ((current === 'owner' || next === 'owner') && actor !== 'owner') throw new ForbiddenError(OWNERS_ONLY)
}

/** Listing, role changes and removals of an org's members. */
export function createMembersService({ db, memberships, cache }: OrgsDeps) {
  const repo = createOrgsRepository(db)

  /**
   * Runs a membership change under the org's row lock (see lockForChange): the actor's role and the target's are
   * read after the lock, and the owners are counted after it, so concurrent changes serialise and the last owner
   * check cannot be raced. `change` gets both roles and applies the change inside the transaction.
   */
  async function underLock<T>(orgId: number, actorId: number, targetId: number,
    change: (tx: Db, actor: Role, current: Role) => Promise<{ value: T; wrote: boolean }>): Promise<T> {
    await requireRole(memberships, orgId, actorId, 'viewer')
    const outcome = await db.transaction(async (tx) => {
      const actor = await repo.lockForChange(orgId, actorId, tx)
      if (!actor) throw orgNotFound()
      const current = actorId === targetId ? actor : await repo.roleOf(orgId, targetId, tx)
      if (!current) {
        // A viewer or member learns nothing about who else belongs: the same 403 as for any change it may not make.
        if (!isAtLeast(actor, 'admin')) throw roleTooLow('admin')
        throw memberNotFound()
      }
      return change(tx, actor, current)
      })
    cache.invalidate(orgId, targetId)
    if (outcome.wrote) await cache.propagated()
    return outcome.value
  }

  const assertOwnerRemains = async (orgId: number, tx: Db) => {
    if ((await repo.countOwners(orgId, tx)) < 1) throw new ConflictError(LAST_OWNER)
  }

  return {
    async list(orgId: number, userId: number, skip: number, limit: number): Promise<Page<Member>> {
      await requireRole(memberships, orgId, userId, 'viewer')
      return repo.listMembers(orgId, skip, limit)
    },

    changeRole(orgId: number, actorId: number, targetId: number, role: Role): Promise<Member> {
      return underLock(orgId, actorId, targetId, async (tx, actor, current) => {
        assertMayChange(actor, current, role)
        if (role !== current) {
          await repo.setRole(orgId, targetId, role, tx)
          // Counted after the change, under the lock: zero owners left means this was the last one.
          if (current === 'owner') await assertOwnerRemains(orgId, tx)
        }
        return { value: (await repo.findMember(orgId, targetId, tx))!, wrote: role !== current }
      })
    },

    /** Removal by an admin or owner, or leaving (the member itself, whatever its role). */
    async remove(orgId: number, actorId: number, targetId: number): Promise<void> {
      await underLock(orgId, actorId, targetId, async (tx, actor, current) => {
        if (actorId !== targetId) assertMayChange(actor, current, undefined)
        await repo.removeMember(orgId, targetId, tx)
        if (current === 'owner') await assertOwnerRemains(orgId, tx)
        return { value: undefined, wrote: true }
      })
    },
  }
}
