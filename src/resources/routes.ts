import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type TSchema } from 'typebox'
import { NotFoundError, ValidationError } from '../shared/errors.js'
import { AUTHENTICATED_ERRORS, IdParamsSchema, NoContentSchema, problemResponses } from '../shared/schemas.js'
import { JSON_MAX_BYTES } from './field-types.js'
import { aOrAn, type Resource, type Row } from './define.js'
import { IdempotencyHeaders, replayedHeader, withIdempotency } from '../modules/idempotency/idempotency.js'
import { conditionalHeaders, etagHeader, etagOf, ifMatchVersions, sendRow } from './etag.js'
import { createPageAnswers } from './pages.js'
import type { Caller, Scope } from './scope.js'

type Body = Record<string, unknown>
type Request = FastifyRequest<{ Body: Body; Params: Record<string, number>; Querystring: Body }>

/** Path parameters, each a positive integer id (`org_id`, `id`, a parent's `<singular>_id`). */
const paramsOf = (...names: string[]) =>
  Type.Object(Object.fromEntries(names.map((n) => [n, IdParamsSchema.properties.id])), { additionalProperties: false })

/** The URL of a collection, with the request's own org id in an org resource's prefix. */
const collectionUrl = (scope: Scope, name: string, request: Request) =>
  `/api/v1${scope.prefix.replace(':org_id', String(request.params.org_id))}/${name}`

/** The statuses every route of a scope can answer: an org resource adds 404 (not a member) and 403 (role). */
const errorsOf = (scope: Scope) => (...statuses: number[]) =>
  problemResponses(...AUTHENTICATED_ERRORS, ...(scope.kind === 'org' ? [403, 404] : []), ...statuses)
/** A list's 200 with its `Link` header. */
const pageAnswer = (page: TSchema) => ({
  ...page, headers: { Link: { type: 'string', description: 'The next page: `<url with cursor=next_cursor>; rel="next"`; absent on the last page' } },
})

/** json fields are capped once serialised: a schema cannot say how many bytes an object takes. */
function assertJsonSizes(resource: Resource, body: Body): void {
  for (const field of resource.fields) {
    const value = body[field.name]
    if (field.type === 'json' && value !== undefined && value !== null && Buffer.byteLength(JSON.stringify(value)) > JSON_MAX_BYTES) {
      throw new ValidationError([{ field: `body.${field.name}`, message: `must be at most ${JSON_MAX_BYTES} bytes once serialised` }])
    }
  }
}

/**
 * Every route of a resource, under `/api/v1` (and the scope's prefix, `/orgs/{org_id}` for org resources): create,
 * list, get, PUT/PATCH (the fields sent), delete, and with a parent the nested collection. Each handler asks the
 * scope for the caller of its operation (404 for a non-member, 403 for a role too low), and the repository scopes
 * every statement to that caller's tenant, so another tenant's row is 404.
 */
export async function buildResourceRoutes(app: FastifyInstance, resource: Resource): Promise<void> {
  const { name, singular, title, schemas, hooks, scope } = resource
  const a = aOrAn(singular)
  const errors = errorsOf(scope)
  app.addSchema(schemas.output)
  const db = app.database.db
  const repo = resource.repository(db)
  const tags = [name]
  const base = `${scope.prefix}/${name}`
  const rowParams = paramsOf(...scope.prefixParams, 'id')
  const yours = scope.kind === 'org' ? `an org's ${name}` : `your ${name}`
  const anothers = scope.kind === 'org' ? "Another org's" : "Another user's"
  const prefixParams = scope.prefixParams.length ? { params: paramsOf(...scope.prefixParams) } : {}
  const plural = title.endsWith('y') ? `${title.slice(0, -1)}ies` : /(s|x|z|ch|sh)$/.test(title) ? `${title}es` : `${title}s`
  const one = (description: string, headers: object = {}) => Type.Ref(title, { description, headers: { ...etagHeader, ...headers } }) as unknown as TSchema
  const found = (row: Row | undefined): Row => {
    if (row === undefined) throw new NotFoundError(`${title} not found`)
    return row
  }
  // A `:unique` field makes every write able to conflict with another of the tenant's rows.
  const writeConflict = resource.fields.some((f) => f.unique) ? [409] : []
  const created = {
    201: one(`The created ${singular}`, {
      Location: { type: 'string', description: `The URL of the new ${singular}`, examples: [`/api/v1${base.replace(':org_id', '1')}/1`] },
      ...replayedHeader,
    }),
    ...errors(400, 409, 413, 415),
  }
  // A nested create has resolved the caller already (checking the parent): one membership lookup per request.
  const create = async (request: Request, reply: FastifyReply, body: Body, resolved?: Caller) => {
    const caller = resolved ?? await scope.callerOf(request, 'create')
    assertJsonSizes(resource, body)
    // With an Idempotency-Key the insert runs in the key's transaction, on a repository of that transaction.
    return withIdempotency(db, request, reply, async (tx) => {
      const input = hooks.beforeCreate ? await hooks.beforeCreate(caller, body, tx) : body
      const row = await (tx === db ? repo : resource.repository(tx)).insert(caller, input)
      return { status: 201, location: `${collectionUrl(scope, name, request)}/${row.id}`, etag: etagOf(row), body: row }
    })
  }
  const listDescription = `${scope.kind === 'org' ? `The org's ${name}` : `Your ${name} only`}, a page at a time (\`skip\`, \`limit\`), `
    + 'with exact-match filters and `q` where the resource offers them, ordered by `sort` (ties broken by id). `total` counts every match. '
    + 'With `cursor` (empty for the first page, then `next_cursor`), keyset pages: no count, and no row skipped or repeated while rows are added or removed.'
  const answerPage = createPageAnswers(app.config.secretKey, name)
  const access = (operation: keyof NonNullable<Scope['access']>) => (scope.access
    ? ` Takes the org role ${scope.access[operation] === 'creator' ? '`creator` (the member who created it, or an admin)' : `\`${scope.access[operation]}\` or above`}; a non-member gets 404.`
    : '')

  app.post(base, {
    schema: {
      tags, operationId: `create${title}`, summary: `Create ${a}`,
      description: scope.kind === 'org'
        ? `Creates ${a} in the org; \`org_id\` comes from the path and \`created_by\` is you.${access('create')}`
        : `Creates ${a} owned by you; \`owner_id\` is always you and cannot be sent.`,
      ...prefixParams, headers: IdempotencyHeaders, body: schemas.create, response: created,
    },
  }, async (request, reply) => create(request as Request, reply, (request as Request).body))

  app.get(base, {
    schema: {
      tags, operationId: `list${plural}`, summary: `List ${yours}`, description: `${listDescription}${access('read')}`,
      ...prefixParams, querystring: schemas.listQuery, response: { 200: pageAnswer(schemas.page), ...errors() },
    },
  }, async (raw, reply) => {
    const request = raw as Request
    const caller = await scope.callerOf(request, 'read')
    return answerPage(request.url, reply, request.query as never, (query) => repo.list(caller, query as never))
  })

  app.get(`${base}/:id`, {
    schema: {
      tags, operationId: `get${title}`, summary: `Get one of ${yours}`,
      description: `${anothers} ${singular} is 404, as if it did not exist.${access('read')}`,
      params: rowParams, headers: conditionalHeaders('if-none-match'),
      response: { 200: one(`The ${singular}`), 304: { description: 'Not Modified: If-None-Match names the current ETag', ...NoContentSchema }, ...errors(404) },
    },
  }, async (raw, reply) => {
    const request = raw as Request
    return sendRow(request, reply, found(await repo.find(await scope.callerOf(request, 'read'), request.params.id!)))
  })

  const update = (operationId: string, summary: string) => ({
    schema: {
      tags, operationId, summary,
      description: `Only the fields sent change; \`updated_at\` is set. ${anothers} ${singular} is 404.${access('update')}`,
      params: rowParams, headers: conditionalHeaders('if-match'), body: schemas.update,
      response: { 200: one(`The updated ${singular}`), ...errors(400, 404, 412, 413, 415, ...writeConflict) },
    },
  })
  const handleUpdate = async (raw: FastifyRequest, reply: FastifyReply) => {
    const request = raw as Request
    const caller = await scope.callerOf(request, 'update')
    assertJsonSizes(resource, request.body)
    const id = request.params.id!
    const changes = hooks.beforeUpdate ? await hooks.beforeUpdate(caller, id, request.body, db) : request.body
    return sendRow(request, reply, found(await repo.update(caller, id, changes, ifMatchVersions(request.headers['if-match'], id))))
  }
  app.put(`${base}/:id`, update(`update${title}`, `Update one of ${yours}`), handleUpdate)
  app.patch(`${base}/:id`, update(`patch${title}`, `Partially update one of ${yours}`), handleUpdate)

  app.delete(`${base}/:id`, {
    schema: {
      tags, operationId: `delete${title}`, summary: `Delete one of ${yours}`,
      description: `Deletes the ${singular} for good; 409 while other rows still reference it. ${anothers} ${singular} is 404.${access('delete')}`,
      params: rowParams, headers: conditionalHeaders('if-match'),
      response: { 204: NoContentSchema, ...errors(404, 412, ...(resource.hasTenantKey ? [409] : [])) },
    },
  }, async (raw, reply) => {
    const request = raw as Request
    const id = request.params.id!
    if (!(await repo.remove(await scope.callerOf(request, 'delete'), id, ifMatchVersions(request.headers['if-match'], id)))) throw new NotFoundError(`${title} not found`)
    return reply.code(204).send(null)
  })

  if (resource.parent) await buildNestedRoutes(app, resource, { create, listDescription, created, plural, errors, answerPage })
}

interface Shared {
  create(request: Request, reply: FastifyReply, body: Body, caller?: Caller): Promise<FastifyReply>
  listDescription: string
  created: Record<number, TSchema>
  plural: string
  errors: ReturnType<typeof errorsOf>
  answerPage: ReturnType<typeof createPageAnswers>
}

/** `GET/POST /api/v1[/orgs/{org_id}]/<parent>/{<parent>_id}/<name>`: 404 unless the parent is in the caller's tenant. */
async function buildNestedRoutes(app: FastifyInstance, resource: Resource, shared: Shared): Promise<void> {
  const { name, title, singular, schemas, scope } = resource
  const { resource: parent, field } = resource.parent!
  const parentRepo = parent.repository(app.database.db)
  const repo = resource.repository(app.database.db)
  const path = `${scope.prefix}/${parent.name}/:${field}/${name}`
  const params = paramsOf(...scope.prefixParams, field)
  const tags = [name]
  const whose = scope.kind === 'org' ? "one of the org's" : 'one of your'
  const assertParent = async (request: Request, operation: 'create' | 'read') => {
    const caller = await scope.callerOf(request, operation)
    if (!(await parentRepo.find(caller, request.params[field]!))) throw new NotFoundError(`${parent.title} not found`)
    return caller
  }

  app.post(path, {
    schema: {
      tags, operationId: `create${title}In${parent.title}`, summary: `Create ${aOrAn(singular)} in ${whose} ${parent.name}`,
      description: `\`${field}\` comes from the path; 404 when that ${parent.singular} is not ${scope.kind === 'org' ? "the org's" : 'yours'}.`,
      params, headers: IdempotencyHeaders, body: schemas.createNested, response: { ...shared.created, ...shared.errors(400, 404, 413, 415) },
    },
  }, async (raw, reply) => {
    const request = raw as Request
    const caller = await assertParent(request, 'create')
    return shared.create(request, reply, { ...request.body, [field]: request.params[field] }, caller)
  })

  app.get(path, {
    schema: {
      tags, operationId: `list${shared.plural}In${parent.title}`, summary: `List the ${name} of ${whose} ${parent.name}`,
      description: `${shared.listDescription} 404 when that ${parent.singular} is not ${scope.kind === 'org' ? "the org's" : 'yours'}.`,
      params, querystring: schemas.nestedListQuery, response: { 200: pageAnswer(schemas.page), ...shared.errors(404) },
    },
  }, async (raw, reply) => {
    const request = raw as Request
    const caller = await assertParent(request, 'read')
    const query = { ...request.query, [field]: request.params[field] } as never
    return shared.answerPage(request.url, reply, query, (q) => repo.list(caller, q as never))
  })
}
