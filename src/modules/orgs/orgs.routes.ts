import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { AUTHENTICATED_ERRORS, NoContentSchema, problemResponses } from '../../shared/schemas.js'
import { IdempotencyHeaders, replayedHeader, withIdempotency } from '../idempotency/idempotency.js'
import type { Clock } from '../account-email/email-tokens.repository.js'
import { invitationsRoutes } from './invitations.routes.js'
import { createMembersService } from './members.service.js'
import type { MembershipCache } from './memberships.cache.js'
import { createMembershipReader } from './memberships.js'
import {
  MemberParamsSchema, MemberSchema, MembersPageSchema, MemberUpdateSchema, OrgCreateSchema, OrgParamsSchema, OrgSchema,
  OrgsPageSchema, OrgUpdateSchema, PagingSchema,
} from './orgs.schemas.js'
import { createOrgsService } from './orgs.service.js'

export interface OrgsRoutesOptions {
  cache: MembershipCache
  /** Time for invitations' expiry; tests move it forward. */
  clock?: Clock | undefined
}

const errors = (...statuses: number[]) => problemResponses(...AUTHENTICATED_ERRORS, ...statuses)
const NOT_MEMBER = 'An org you are not a member of is 404, the same answer as for one that does not exist.'

/** `/orgs` and `/orgs/{org_id}/members` (SPEC §8), and the invitation routes (invitations.routes.ts). */
export const orgsRoutes: FastifyPluginAsyncTypebox<OrgsRoutesOptions> = async (app, options) => {
  const { cache } = options
  app.addSchema(OrgSchema)
  app.addSchema(MemberSchema)
  // These routes read the caller's role from the database, not the cache: they are not the hot path, and so a change
  // made on another instance a moment ago is always seen here (the cache's NOTIFY may still be on its way).
  const deps = { db: app.database.db, memberships: createMembershipReader(app.database.db), cache }
  const orgs = createOrgsService(deps)
  const members = createMembersService(deps)
  const tags = ['orgs']
  const org = (description: string, extra: object = {}) => Type.Ref('Org', { description, ...extra })
  await app.register(invitationsRoutes, options)

  app.post('/orgs', {
    schema: {
      tags, operationId: 'createOrg', summary: 'Create an organization',
      description: 'You become its owner. A `slug` you send must be free (409); without one it is derived from the name '
        + '(accents dropped, other characters as `-`), with a random suffix when that is taken or shorter than 3 characters.',
      headers: IdempotencyHeaders, body: OrgCreateSchema,
      response: {
        201: org('The new organization', { headers: { Location: { type: 'string', examples: ['/api/v1/orgs/1'] }, ...replayedHeader } }),
        ...errors(409),
      },
    },
  }, async (request, reply) => withIdempotency(deps.db, request, reply, async (tx) => {
    // With an Idempotency-Key the org and its owner are written in the key's transaction.
    const service = tx === deps.db ? orgs : createOrgsService({ ...deps, db: tx, memberships: createMembershipReader(tx) })
    const created = await service.create(request.user.id, request.body)
    return { status: 201, location: `/api/v1/orgs/${created.id}`, body: created }
  }))

  app.get('/orgs', {
    schema: {
      tags, operationId: 'listOrgs', summary: 'Your organizations',
      description: 'The organizations you are a member of, with your role in each, ordered by id.',
      querystring: PagingSchema, response: { 200: OrgsPageSchema, ...errors() },
    },
  }, async (request) => orgs.list(request.user.id, request.query.skip, request.query.limit))

  app.get('/orgs/:org_id', {
    schema: {
      tags, operationId: 'getOrg', summary: 'Get an organization', description: `Any member. ${NOT_MEMBER}`,
      params: OrgParamsSchema, response: { 200: org('The organization, with your role'), ...errors(404) },
    },
  }, async (request) => orgs.get(request.params.org_id, request.user.id))

  app.patch('/orgs/:org_id', {
    schema: {
      tags, operationId: 'updateOrg', summary: 'Rename an organization',
      description: `Admins and owners (others 403). Only the fields sent change; a slug taken by another org is 409. ${NOT_MEMBER}`,
      params: OrgParamsSchema, body: OrgUpdateSchema, response: { 200: org('The updated organization'), ...errors(403, 404, 409) },
    },
  }, async (request) => orgs.update(request.params.org_id, request.user.id, request.body))

  app.delete('/orgs/:org_id', {
    schema: {
      tags, operationId: 'deleteOrg', summary: 'Delete an organization',
      description: `Owners only (others 403). Its members, invitations and resources go with it. ${NOT_MEMBER}`,
      params: OrgParamsSchema, response: { 204: NoContentSchema, ...errors(403, 404) },
    },
  }, async (request, reply) => {
    await orgs.delete(request.params.org_id, request.user.id)
    return reply.code(204).send(null)
  })

  app.get('/orgs/:org_id/members', {
    schema: {
      tags, operationId: 'listMembers', summary: 'List members', description: `Any member; ordered by when they joined. ${NOT_MEMBER}`,
      params: OrgParamsSchema, querystring: PagingSchema, response: { 200: MembersPageSchema, ...errors(404) },
    },
  }, async (request) => members.list(request.params.org_id, request.user.id, request.query.skip, request.query.limit))

  app.patch('/orgs/:org_id/members/:user_id', {
    schema: {
      tags, operationId: 'updateMember', summary: "Change a member's role",
      description: 'Admins manage admins, members and viewers; only an owner grants `owner` or changes another owner (403). '
        + `The last owner cannot be demoted (409), however many requests race. A user who is not a member is 404. ${NOT_MEMBER}`,
      params: MemberParamsSchema, body: MemberUpdateSchema,
      response: { 200: Type.Ref('Member', { description: 'The member with its new role' }), ...errors(403, 404, 409) },
    },
  }, async (request) => members.changeRole(request.params.org_id, request.user.id, request.params.user_id, request.body.role))

  app.delete('/orgs/:org_id/members/:user_id', {
    schema: {
      tags, operationId: 'removeMember', summary: 'Remove a member, or leave',
      description: 'Admins remove admins, members and viewers; only an owner removes another owner (403). Any member may remove '
        + `itself (leave), except the last owner (409). ${NOT_MEMBER}`,
      params: MemberParamsSchema, response: { 204: NoContentSchema, ...errors(403, 404, 409) },
    },
  }, async (request, reply) => {
    await members.remove(request.params.org_id, request.user.id, request.params.user_id)
    return reply.code(204).send(null)
  })
}
