import type { Db } from '../../db/client.js'
import { isUniqueViolation } from '../../db/errors.js'
import { ConflictError } from '../../shared/errors.js'
import type { MembershipResolver } from './memberships.js'
import { orgNotFound, requireRole, roleTooLow } from './org-access.js'
import { createOrgsRepository, type Org } from './orgs.repository.js'
import type { OrgCreate, OrgUpdate } from './orgs.schemas.js'
import { isAtLeast } from './roles.js'
import { slugCandidates } from './slug.js'

/** What the org services tell the membership cache about this process's own writes. */
export interface MembershipInvalidation {
  invalidate(orgId: number, userId: number): void
  invalidateOrg(orgId: number): void
  /** After a committed change: resolves once every instance has applied it (see memberships.cache.ts). */
  propagated(): Promise<void>
}

export interface OrgsDeps {
  db: Db
  /** Where the caller's role is read before any work (the org routes read the database: see orgs.routes.ts). */
  memberships: MembershipResolver
  cache: MembershipInvalidation
}

const SLUG_TAKEN = 'This slug is already taken'
// A random suffix collides about once in 2 billion tries: a few attempts cover any realistic race.
const DERIVED_SLUG_ATTEMPTS = 5

const slugTaken = (cause: unknown) => Object.assign(new ConflictError(SLUG_TAKEN), { cause })

/** Creating, reading, renaming and deleting orgs (SPEC §8); members and invitations have their own services. */
export function createOrgsService({ db, memberships, cache }: OrgsDeps) {
  const repo = createOrgsRepository(db)

  /** The org with its creator as owner, in one transaction; a unique violation rolls both back. */
  const insertWithOwner = (userId: number, name: string, slug: string) => db.transaction(async (tx) => {
    const org = await repo.insert({ name, slug }, tx)
    await repo.addMember(org.id, userId, 'owner', tx)
    return { ...org, role: 'owner' as const }
  })

  return {
    /**
     * A slug that was sent must be free (409). A derived one that is taken or too short gets a random suffix,
     * retried on the unique violation itself, so two creations racing for one name both succeed.
     */
    async create(userId: number, input: OrgCreate): Promise<Org> {
      if (input.slug !== undefined) {
        try {
          return await insertWithOwner(userId, input.name, input.slug)
        } catch (err) {
          if (isUniqueViolation(err)) throw slugTaken(err)
          throw err
        }
      }
      const candidates = slugCandidates(input.name)
      for (let attempt = 1; ; attempt++) {
        try {
          return await insertWithOwner(userId, input.name, candidates.next().value!)
        } catch (err) {
          if (!isUniqueViolation(err) || attempt >= DERIVED_SLUG_ATTEMPTS) throw err
        }
      }
    },

    list: (userId: number, skip: number, limit: number) => repo.listForUser(userId, skip, limit),

    async get(orgId: number, userId: number): Promise<Org> {
      const org = await repo.findForMember(orgId, userId)
      if (!org) throw orgNotFound()
      return org
    },

    /** Admins and owners rename; the role is checked again under the org's lock, as every change does. */
    async update(orgId: number, userId: number, changes: OrgUpdate): Promise<Org> {
      await requireRole(memberships, orgId, userId, 'admin')
      try {
        return await db.transaction(async (tx) => {
          const role = await repo.lockForChange(orgId, userId, tx)
          if (!role) throw orgNotFound()
          if (!isAtLeast(role, 'admin')) throw roleTooLow('admin')
          if (Object.keys(changes).length) await repo.update(orgId, changes, tx)
          return (await repo.findForMember(orgId, userId, tx))!
        })
      } catch (err) {
        if (isUniqueViolation(err)) throw slugTaken(err)
        throw err
      }
    },

    /** Owners only; members, invitations and the org's resource rows go with it (ON DELETE CASCADE). */
    async delete(orgId: number, userId: number): Promise<void> {
      await requireRole(memberships, orgId, userId, 'owner')
      await db.transaction(async (tx) => {
        const role = await repo.lockForChange(orgId, userId, tx)
        if (!role) throw orgNotFound()
        if (role !== 'owner') throw roleTooLow('owner')
        await repo.delete(orgId, tx)
      })
      cache.invalidateOrg(orgId)
      // Every membership's NOTIFY (the cascade's) was sent at that commit; other instances apply them before answering.
      await cache.propagated()
    },
  }
}

export type OrgsService = ReturnType<typeof createOrgsService>
