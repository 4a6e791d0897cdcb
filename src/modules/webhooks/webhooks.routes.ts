import type { FastifyInstance, FastifyRequest } from 'fastify'
import { Type, type TSchema } from 'typebox'
import { NotFoundError, ValidationError } from '../../shared/errors.js'
import { AUTHENTICATED_ERRORS, IdParamsSchema, NoContentSchema, problemResponses } from '../../shared/schemas.js'
import { requireRole } from '../orgs/org-access.js'
import { createWebhooksRepository, type Owner } from './webhooks.repository.js'
import {
  DeliveriesPageSchema, PagingSchema, WebhookCreatedSchema, WebhookCreateSchema, WebhookDeliverySchema, WebhookSchema,
  WebhooksPageSchema, WebhookUpdateSchema,
} from './webhooks.schemas.js'
import { newSigningSecret } from './webhooks.sign.js'
import { urlProblem } from './webhooks.ssrf.js'

type Body = { url?: string; types?: string[]; enabled?: boolean }
type Request = FastifyRequest<{ Body: Body; Params: { id: number; org_id?: number }; Querystring: { skip: number; limit: number } }>

interface Scope {
  prefix: string
  params: Record<string, TSchema>
  names: { one: string; many: string }
  whose: string
  ownerOf(request: Request): Promise<Owner>
}

const errors = (...statuses: number[]) => problemResponses(...AUTHENTICATED_ERRORS, ...statuses)
const id = IdParamsSchema.properties.id

/** `/webhooks` (yours) and `/orgs/{org_id}/webhooks` (an org's, for its admins): the same routes, two owners. */
export async function webhooksRoutes(app: FastifyInstance, { resourceNames }: { resourceNames: readonly string[] }): Promise<void> {
  for (const schema of [WebhookSchema, WebhookCreatedSchema, WebhookDeliverySchema]) app.addSchema(schema)
  const known = new Set(resourceNames)
  const check = (body: Body) => {
    const problem = body.url === undefined ? undefined : urlProblem(body.url, app.config.events.webhooks.allowPrivate)
    if (problem) throw new ValidationError([{ field: 'body.url', message: problem }])
    const unknown = body.types?.findIndex((t) => !known.has(t.slice(0, t.lastIndexOf('.')))) ?? -1
    if (unknown >= 0) throw new ValidationError([{ field: `body.types.${unknown}`, message: `names no resource (${[...known].join(', ')})` }])
  }
  const user: Scope = {
    prefix: '', params: {}, names: { one: 'Webhook', many: 'Webhooks' }, whose: 'your',
    ownerOf: async (request) => ({ ownerId: request.user.id }),
  }
  const org: Scope = {
    prefix: '/orgs/:org_id', params: { org_id: id }, names: { one: 'OrgWebhook', many: 'OrgWebhooks' }, whose: "the org's (admins and owners)",
    async ownerOf(request) {
      await requireRole(app.memberships, request.params.org_id!, request.user.id, 'admin')
      return { orgId: request.params.org_id! }
    },
  }
  for (const scope of [user, org]) registerScope(app, scope, check)
}

function registerScope(app: FastifyInstance, scope: Scope, check: (body: Body) => void): void {
  const repo = createWebhooksRepository(app.database.db)
  const { prefix, names, whose } = scope
  const tags = ['webhooks']
  const notFound = () => new NotFoundError('Webhook not found')
  const collectionParams = prefix ? Type.Object(scope.params, { additionalProperties: false }) : undefined
  const itemParams = Type.Object({ ...scope.params, id }, { additionalProperties: false })
  const orgErrors = prefix ? [403, 404] : []
  const one = (description: string) => Type.Ref('Webhook', { description })

  app.post(`${prefix}/webhooks`, {
    schema: {
      tags, operationId: `create${names.one}`, summary: `Add a webhook endpoint (${whose})`,
      description: 'Matching events are POSTed to `url`, signed as Standard Webhooks do. The answer holds the signing secret, shown this once.',
      ...(collectionParams ? { params: collectionParams } : {}), body: WebhookCreateSchema,
      response: { 201: Type.Ref('WebhookCreated', { description: 'The endpoint, with its signing secret' }), ...errors(400, 413, 415, ...orgErrors) },
    },
  }, async (raw, reply) => {
    const request = raw as Request
    const owner = await scope.ownerOf(request)
    check(request.body)
    const secret = newSigningSecret()
    const row = await repo.insert(owner, { url: request.body.url!, types: request.body.types ?? [], secret })
    return reply.code(201).header('cache-control', 'no-store').send({ ...row, secret })
  })

  app.get(`${prefix}/webhooks`, {
    schema: {
      tags, operationId: `list${names.many}`, summary: `List webhook endpoints (${whose})`, description: 'A page at a time, oldest first.',
      ...(collectionParams ? { params: collectionParams } : {}), querystring: PagingSchema, response: { 200: WebhooksPageSchema, ...errors(...orgErrors) },
    },
  }, async (raw) => {
    const request = raw as Request
    const { skip, limit } = request.query
    const page = await repo.list(await scope.ownerOf(request), skip, limit)
    return { ...page, page: Math.floor(skip / limit) + 1, size: limit }
  })

  app.patch(`${prefix}/webhooks/:id`, {
    schema: {
      tags, operationId: `update${names.one}`, summary: `Change a webhook endpoint (${whose})`,
      description: 'Only the fields sent change; `enabled: true` turns a disabled endpoint back on.',
      params: itemParams, body: WebhookUpdateSchema, response: { 200: one('The endpoint'), ...errors(400, 404, 413, 415, ...orgErrors) },
    },
  }, async (raw) => {
    const request = raw as Request
    const owner = await scope.ownerOf(request)
    check(request.body)
    return (await repo.update(owner, request.params.id, request.body)) ?? Promise.reject(notFound())
  })

  app.delete(`${prefix}/webhooks/:id`, {
    schema: {
      tags, operationId: `delete${names.one}`, summary: `Remove a webhook endpoint (${whose})`, description: 'Its pending deliveries go with it.',
      params: itemParams, response: { 204: NoContentSchema, ...errors(404, ...orgErrors) },
    },
  }, async (raw, reply) => {
    const request = raw as Request
    if (!(await repo.remove(await scope.ownerOf(request), request.params.id))) throw notFound()
    return reply.code(204).send(null)
  })

  app.get(`${prefix}/webhooks/:id/deliveries`, {
    schema: {
      tags, operationId: `list${names.one}Deliveries`, summary: `List an endpoint's deliveries (${whose})`,
      description: 'Newest first: each event sent (or being retried) with its attempts and last outcome.',
      params: itemParams, querystring: PagingSchema, response: { 200: DeliveriesPageSchema, ...errors(404, ...orgErrors) },
    },
  }, async (raw) => {
    const request = raw as Request
    const endpoint = await repo.find(await scope.ownerOf(request), request.params.id)
    if (!endpoint) throw notFound()
    const { skip, limit } = request.query
    const page = await repo.deliveries(endpoint.id, skip, limit)
    return { ...page, page: Math.floor(skip / limit) + 1, size: limit }
  })
}
