import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { HOUR_MS, repeatWhileUp } from '../../shared/periodic.js'
import { AUTHENTICATED_ERRORS, NoContentSchema, problemResponses } from '../../shared/schemas.js'
import { systemClock } from '../account-email/email-tokens.repository.js'
import { IdempotencyHeaders, replayedHeader, withIdempotency } from '../idempotency/idempotency.js'
import { createInvitationsRepository } from './invitations.repository.js'
import { createMembershipReader } from './memberships.js'
import { createInvitationsService, INVITATION_TTL_DAYS } from './invitations.service.js'
import type { OrgsRoutesOptions } from './orgs.routes.js'
import {
  InvitationAcceptSchema, InvitationCreateSchema, InvitationParamsSchema, InvitationSchema, InvitationsPageSchema, OrgParamsSchema,
  PagingSchema,
} from './orgs.schemas.js'

const errors = (...statuses: number[]) => problemResponses(...AUTHENTICATED_ERRORS, ...statuses)
const ADMINS = 'Admins and owners (others 403); an org you are not a member of is 404, as if it did not exist.'

/** `/orgs/{org_id}/invitations` and `/invitations/accept` (SPEC §8). */
export const invitationsRoutes: FastifyPluginAsyncTypebox<OrgsRoutesOptions> = async (app, { cache, clock }) => {
  app.addSchema(InvitationSchema)
  const deps = {
    db: app.database.db, memberships: createMembershipReader(app.database.db), cache, clock: clock ?? systemClock,
    mail: app.config.mail, userCache: app.userCache,
    // After the answer's I/O turn, as account email does: the answer never waits for mail work.
    wake: () => { setImmediate(() => app.mailOutbox.wake()) },
  }
  const service = createInvitationsService(deps)
  const repository = createInvitationsRepository(app.database.db, deps.clock)
  repeatWhileUp(app, 'expired invitations clean-up', HOUR_MS, () => repository.sweepExpired())
  const tags = ['invitations']
  const link = `\`${app.config.mail.appUrl}/accept-invitation?token=…\``

  app.post('/orgs/:org_id/invitations', {
    schema: {
      tags, operationId: 'createInvitation', summary: 'Invite someone by email',
      description: `Mails ${link} to the address (single use, valid ${INVITATION_TTL_DAYS} days). Inviting the same address again `
        + 'replaces the pending invitation: the earlier link stops working. Admins invite at most `admin`; only an owner invites an '
        + `owner (403). An address that belongs to a member already is 409. ${ADMINS}`,
      params: OrgParamsSchema, headers: IdempotencyHeaders, body: InvitationCreateSchema,
      response: {
        201: Type.Ref('Invitation', { description: 'The pending invitation (never its token)', headers: replayedHeader }),
        ...errors(403, 404, 409),
      },
    },
  }, async (request, reply) => {
    let inKeyTransaction = false
    const answered = await withIdempotency(deps.db, request, reply, async (tx) => {
      // With an Idempotency-Key the invitation and its mail are written in the key's transaction.
      inKeyTransaction = tx !== deps.db
      const invite = inKeyTransaction ? createInvitationsService({ ...deps, db: tx, memberships: createMembershipReader(tx) }) : service
      return { status: 201, body: await invite.invite(request.params.org_id, request.user, request.body) }
    })
    // The service's wake ran before the key's transaction committed: the worker may have looked before the mail was there.
    if (inKeyTransaction) deps.wake()
    return answered
  })

  app.get('/orgs/:org_id/invitations', {
    schema: {
      tags, operationId: 'listInvitations', summary: 'List pending invitations',
      description: `Unexpired invitations not yet accepted or revoked, oldest first; never a token. ${ADMINS}`,
      params: OrgParamsSchema, querystring: PagingSchema, response: { 200: InvitationsPageSchema, ...errors(403, 404) },
    },
  }, async (request) => service.list(request.params.org_id, request.user.id, request.query.skip, request.query.limit))

  app.delete('/orgs/:org_id/invitations/:id', {
    schema: {
      tags, operationId: 'revokeInvitation', summary: 'Revoke an invitation',
      description: `Its link stops working. An invitation of another org, or already used, is 404. ${ADMINS}`,
      params: InvitationParamsSchema, response: { 204: NoContentSchema, ...errors(403, 404) },
    },
  }, async (request, reply) => {
    await service.revoke(request.params.org_id, request.user.id, request.params.id)
    return reply.code(204).send(null)
  })

  app.post('/invitations/accept', {
    schema: {
      tags, operationId: 'acceptInvitation', summary: 'Accept an invitation',
      description: 'Signed in as the invited address (sign up with it first if needed): you become a member with the invited role '
        + '(a member already keeps its role), and your email counts as verified. A used, revoked, expired or unknown token is 400; '
        + 'signed in with another address, 403 with `code: "invitation_email_mismatch"` (the link stays usable).',
      body: InvitationAcceptSchema,
      response: { 200: Type.Ref('Org', { description: 'The organization you joined, with your role' }), ...errors(400, 403) },
    },
  }, async (request) => service.accept(request.user.id, request.body.token))
}
