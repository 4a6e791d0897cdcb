import { isForeignKeyViolation } from '../../db/errors.js'
import { BadRequestError, ConflictError, ForbiddenError, NotFoundError } from '../../shared/errors.js'
import type { Page } from '../../shared/schemas.js'
import type { Clock } from '../account-email/email-tokens.repository.js'
import { createMailOutboxRepository } from '../mail/mail-outbox.repository.js'
import { invitationMail } from '../mail/mail.templates.js'
import type { UserCache } from '../users/users.cache.js'
import { createUsersRepository } from '../users/users.repository.js'
import { createInvitationsRepository, type Invitation } from './invitations.repository.js'
import { orgNotFound, requireRole, roleTooLow } from './org-access.js'
import { createOrgsRepository, type Org } from './orgs.repository.js'
import type { OrgsDeps } from './orgs.service.js'
import type { InvitationCreate } from './orgs.schemas.js'
import { isAtLeast } from './roles.js'

/** SPEC §8: an invitation link works for 7 days. */
export const INVITATION_TTL_DAYS = 7

export interface InvitationsDeps extends OrgsDeps {
  clock: Clock
  mail: { appUrl: string; appName: string }
  /** Tells the outbox worker that a committed transaction queued mail. */
  wake: () => void
  userCache: Pick<UserCache, 'invalidate'>
}

const INVALID = 'This invitation is invalid, used, revoked or expired: ask for a new one'

/** Inviting by email, listing and revoking pending invitations, and accepting one (SPEC §8). */
export function createInvitationsService({ db, memberships, cache, clock, mail, wake, userCache }: InvitationsDeps) {
  const orgs = createOrgsRepository(db)
  const users = createUsersRepository(db)
  const repo = createInvitationsRepository(db, clock)
  const outbox = createMailOutboxRepository(db)

  return {
    /**
     * Admins invite at most `admin`; only an owner invites an owner (403). A current member is 409. The invitation and
     * its mail are committed together, under the org's lock (so a concurrent demotion of the inviter is seen).
     */
    async invite(orgId: number, inviter: { id: number; email: string }, input: InvitationCreate): Promise<Invitation> {
      await requireRole(memberships, orgId, inviter.id, 'admin')
      const email = input.email.toLowerCase()
      const invitation = await db.transaction(async (tx) => {
        const role = await orgs.lockForChange(orgId, inviter.id, tx)
        if (!role) throw orgNotFound()
        if (!isAtLeast(role, 'admin')) throw roleTooLow('admin')
        if (input.role === 'owner' && role !== 'owner') throw new ForbiddenError('Only an owner invites an owner')
        if (await orgs.hasMemberWithEmail(orgId, email, tx)) throw new ConflictError('This address belongs to a member already')
        const org = (await orgs.findForMember(orgId, inviter.id, tx))!
        const issued = await repo.upsert({ orgId, email, role: input.role, invitedBy: inviter.id, ttlSeconds: INVITATION_TTL_DAYS * 86_400 }, tx)
        const url = `${mail.appUrl}/accept-invitation?token=${issued.token}`
        const content = invitationMail({ appName: mail.appName }, { orgName: org.name, inviter: inviter.email, role: input.role }, url, INVITATION_TTL_DAYS)
        await outbox.enqueue([{ to: email, ...content }], tx)
        return issued.invitation
      })
      wake()
      return invitation
    },

    async list(orgId: number, userId: number, skip: number, limit: number): Promise<Page<Invitation>> {
      await requireRole(memberships, orgId, userId, 'admin')
      return repo.list(orgId, skip, limit)
    },

    async revoke(orgId: number, userId: number, id: number): Promise<void> {
      await requireRole(memberships, orgId, userId, 'admin')
      if (!(await repo.revoke(orgId, id))) throw new NotFoundError('Invitation not found')
    },

    /**
     * Only the account whose email was invited may accept (403 `invitation_email_mismatch`, the link stays usable);
     * accepting proves the address, so it is marked verified. An existing member keeps its role. The user row is
     * locked before the invitation is used, the order every token path keeps (see users.repository lockForAuth).
     */
    async accept(userId: number, token: string): Promise<Org> {
      try {
        const org = await db.transaction(async (tx) => {
          if (!(await repo.peek(token, tx))) throw new BadRequestError(INVALID)
          const user = await users.lockForAuth(userId, tx)
          const invitation = await repo.consume(token, tx)
          if (!user || !invitation) throw new BadRequestError(INVALID)
          if (user.email.toLowerCase() !== invitation.email) {
            throw new ForbiddenError('This invitation was sent to another email address: sign in with that address to accept it', 'invitation_email_mismatch')
          }
          if (!(await orgs.roleOf(invitation.org_id, userId, tx))) await orgs.addMember(invitation.org_id, userId, invitation.role, tx)
          await users.update(userId, { email_verified: true }, tx)
          return (await orgs.findForMember(invitation.org_id, userId, tx))!
        })
        cache.invalidate(org.id, userId)
        userCache.invalidate(userId)
        return org
      } catch (err) {
        // The org was deleted between the look and the insert: the invitation went with it.
        if (isForeignKeyViolation(err)) throw Object.assign(new BadRequestError(INVALID), { cause: err })
        throw err
      }
    },
  }
}
