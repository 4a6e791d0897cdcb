import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { Type, type TSchema } from 'typebox'
import { NotFoundError, ValidationError } from '../shared/errors.js'
import { AUTHENTICATED_ERRORS, IdParamsSchema, NoContentSchema, problemResponses } from '../shared/schemas.js'
import { JSON_MAX_BYTES } from './field-types.js'
import type { Resource, Row } from './define.js'
import { createPageAnswers } from './pages.js'

type Body = Record<string, unknown>
type Request = FastifyRequest<{ Body: Body; Params: Record<string, number>; Querystring: Body }>

const errors = (...statuses: number[]) => problemResponses(...AUTHENTICATED_ERRORS, ...statuses)
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
 * Every route of a resource, under `/api/v1`: create, list, get, PUT/PATCH (the fields sent), delete, and with a
 * parent the nested collection. The repository scopes every statement to the caller, so another user's row is 404.
 */
export async function buildResourceRoutes(app: FastifyInstance, resource: Resource): Promise<void> {
  const { name, singular, title, schemas, hooks } = resource
  const a = `${/^[aeiou]/.test(singular) ? 'an' : 'a'} ${singular}`
  app.addSchema(schemas.output)
  const db = app.database.db
  const repo = resource.repository(db)
  const tags = [name]
  const plural = title.endsWith('y') ? `${title.slice(0, -1)}ies` : /(s|x|z|ch|sh)$/.test(title) ? `${title}es` : `${title}s`
  const one = (description: string, extra: object = {}) => Type.Ref(title, { description, ...extra }) as unknown as TSchema
  const found = (row: Row | undefined): Row => {
    if (row === undefined) throw new NotFoundError(`${title} not found`)
    return row
  }
  // A `:unique` field makes every write able to conflict with another of the caller's rows.
  const writeConflict = resource.fields.some((f) => f.unique) ? [409] : []
  const created = {
    201: one(`The created ${singular}`, {
      headers: { Location: { type: 'string', description: `The URL of the new ${singular}`, examples: [`/api/v1/${name}/1`] } },
    }),
    ...errors(400, 413, 415, ...writeConflict),
  }
  const create = async (request: Request, reply: FastifyReply, body: Body) => {
    assertJsonSizes(resource, body)
    const input = hooks.beforeCreate ? await hooks.beforeCreate(request.user.id, body, db) : body
    const row = await repo.insert(request.user.id, input)
    return reply.code(201).header('location', `/api/v1/${name}/${row.id}`).send(row)
  }
  const listDescription = `Your ${name} only, a page at a time (\`skip\`, \`limit\`), with exact-match filters and \`q\` where the `
    + 'resource offers them, ordered by `sort` (ties broken by id). `total` counts every match. With `cursor` (empty for '
    + 'the first page, then `next_cursor`), keyset pages: no count, and no row skipped or repeated while rows are added or removed.'
  const answerPage = createPageAnswers(app.config.secretKey, name)

  app.post(`/${name}`, {
    schema: {
      tags, operationId: `create${title}`, summary: `Create ${a}`,
      description: `Creates ${a} owned by you; \`owner_id\` is always you and cannot be sent.`,
      body: schemas.create, response: created,
    },
  }, async (request, reply) => create(request as Request, reply, (request as Request).body))

  app.get(`/${name}`, {
    schema: {
      tags, operationId: `list${plural}`, summary: `List your ${name}`, description: listDescription,
      querystring: schemas.listQuery, response: { 200: pageAnswer(schemas.page), ...errors() },
    },
  }, async (request, reply) => answerPage(request.url, reply, (request as Request).query as never, (query) => repo.listForOwner(request.user.id, query as never)))

  app.get(`/${name}/:id`, {
    schema: {
      tags, operationId: `get${title}`, summary: `Get one of your ${name}`, description: `Another user's ${singular} is 404, as if it did not exist.`,
      params: IdParamsSchema, response: { 200: one(`The ${singular}`), ...errors(404) },
    },
  }, async (request) => found(await repo.findForOwner(request.user.id, (request as Request).params.id!)))

  const update = (operationId: string, summary: string) => ({
    schema: {
      tags, operationId, summary, description: `Only the fields sent change; \`updated_at\` is set. Another user's ${singular} is 404.`,
      params: IdParamsSchema, body: schemas.update, response: { 200: one(`The updated ${singular}`), ...errors(400, 404, 413, 415, ...writeConflict) },
    },
  })
  const handleUpdate = async (raw: FastifyRequest) => {
    const request = raw as Request
    assertJsonSizes(resource, request.body)
    const id = request.params.id!
    const changes = hooks.beforeUpdate ? await hooks.beforeUpdate(request.user.id, id, request.body, db) : request.body
    return found(await repo.updateForOwner(request.user.id, id, changes))
  }
  app.put(`/${name}/:id`, update(`update${title}`, `Update one of your ${name}`), handleUpdate)
  app.patch(`/${name}/:id`, update(`patch${title}`, `Partially update one of your ${name}`), handleUpdate)

  app.delete(`/${name}/:id`, {
    schema: {
      tags, operationId: `delete${title}`, summary: `Delete one of your ${name}`,
      description: `Deletes the ${singular} for good; 409 while other rows still reference it. Another user's ${singular} is 404.`,
      params: IdParamsSchema, response: { 204: NoContentSchema, ...errors(404, ...(resource.hasOwnerKey ? [409] : [])) },
    },
  }, async (request, reply) => {
    if (!(await repo.deleteForOwner(request.user.id, (request as Request).params.id!))) throw new NotFoundError(`${title} not found`)
    return reply.code(204).send(null)
  })

  if (resource.parent) await buildNestedRoutes(app, resource, { create, listDescription, created, plural, answerPage })
}

interface Shared {
  create(request: Request, reply: FastifyReply, body: Body): Promise<FastifyReply>
  listDescription: string
  created: Record<number, TSchema>
  plural: string
  answerPage: ReturnType<typeof createPageAnswers>
}

/** `GET/POST /api/v1/<parent>/{<parent>_id}/<name>`: 404 unless the parent is the caller's. */
async function buildNestedRoutes(app: FastifyInstance, resource: Resource, shared: Shared): Promise<void> {
  const { name, title, singular, schemas } = resource
  const { resource: parent, field } = resource.parent!
  const parentRepo = parent.repository(app.database.db)
  const repo = resource.repository(app.database.db)
  const path = `/${parent.name}/:${field}/${name}`
  const params = Type.Object({ [field]: IdParamsSchema.properties.id }, { additionalProperties: false })
  const tags = [name]
  const assertParent = async (request: Request) => {
    if (!(await parentRepo.findForOwner(request.user.id, request.params[field]!))) throw new NotFoundError(`${parent.title} not found`)
  }

  app.post(path, {
    schema: {
      tags, operationId: `create${title}In${parent.title}`, summary: `Create ${/^[aeiou]/.test(singular) ? "an" : "a"} ${singular} in one of your ${parent.name}`,
      description: `\`${field}\` comes from the path; 404 when that ${parent.singular} is not yours.`,
      params, body: schemas.createNested, response: { ...shared.created, ...errors(400, 404, 413, 415) },
    },
  }, async (raw, reply) => {
    const request = raw as Request
    await assertParent(request)
    return shared.create(request, reply, { ...request.body, [field]: request.params[field] })
  })

  app.get(path, {
    schema: {
      tags, operationId: `list${shared.plural}In${parent.title}`, summary: `List the ${name} of one of your ${parent.name}`,
      description: `${shared.listDescription} 404 when that ${parent.singular} is not yours.`,
      params, querystring: schemas.nestedListQuery, response: { 200: pageAnswer(schemas.page), ...errors(404) },
    },
  }, async (raw, reply) => {
    const request = raw as Request
    await assertParent(request)
    const query = { ...request.query, [field]: request.params[field] } as never
    return shared.answerPage(request.url, reply, query, (q) => repo.listForOwner(request.user.id, q as never))
  })
}
