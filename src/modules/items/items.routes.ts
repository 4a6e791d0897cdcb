import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { NotFoundError } from '../../shared/errors.js'
import { AUTHENTICATED_ERRORS, IdParamsSchema, NoContentSchema, problemResponses } from '../../shared/schemas.js'
import { createItemsRepository } from './items.repository.js'
import { ItemCreateSchema, ItemListQuerySchema, ItemSchema, ItemsPageSchema, ItemUpdateSchema, type ItemUpdate } from './items.schemas.js'

const Item = Type.Ref('Item')

/** Plain owned CRUD: the repository scopes every query to the caller, so no service layer is needed. */
export const itemsRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.addSchema(ItemSchema)
  const repo = createItemsRepository(app.database.db)
  const tags = ['items']
  const errors = (...statuses: number[]) => problemResponses(...AUTHENTICATED_ERRORS, ...statuses)
  const found = <T>(row: T | undefined): T => {
    if (row === undefined) throw new NotFoundError('Item not found')
    return row
  }

  app.post('/', {
    schema: {
      tags, summary: 'Create an item', description: 'The item belongs to you; `Location` points at it.',
      body: ItemCreateSchema, response: { 201: Item, ...errors(400, 413, 415) },
    },
  }, async (request, reply) => {
    const item = await repo.insert(request.user.id, request.body)
    return reply.code(201).header('location', `/api/v1/items/${item.id}`).send(item)
  })

  app.get('/', {
    schema: {
      tags, summary: 'List your items', description: 'Paged, filtered by `is_active` and `q`, sorted by `sort` (ties broken by id).',
      querystring: ItemListQuerySchema, response: { 200: ItemsPageSchema, ...errors() },
    },
  }, async (request) => repo.listForOwner(request.user.id, request.query))

  app.get('/:id', {
    schema: {
      tags, summary: 'Get one of your items', description: 'Another user\'s item is 404, as if it did not exist.',
      params: IdParamsSchema, response: { 200: Item, ...errors(404) },
    },
  }, async (request) => found(await repo.findForOwner(request.user.id, request.params.id)))

  const update = (summary: string) => ({
    schema: {
      tags, summary, description: 'Only the fields sent change; `updated_at` is set.',
      params: IdParamsSchema, body: ItemUpdateSchema, response: { 200: Item, ...errors(400, 404, 413, 415) },
    },
  })
  const handleUpdate = async (request: { user: { id: number }; params: { id: number }; body: ItemUpdate }) =>
    found(await repo.updateForOwner(request.user.id, request.params.id, request.body))
  app.put('/:id', update('Update one of your items'), handleUpdate)
  app.patch('/:id', update('Partially update one of your items'), handleUpdate)

  app.delete('/:id', {
    schema: { tags, summary: 'Delete one of your items', params: IdParamsSchema, response: { 204: NoContentSchema, ...errors(404) } },
  }, async (request, reply) => {
    found((await repo.deleteForOwner(request.user.id, request.params.id)) || undefined)
    return reply.code(204).send(null)
  })
}
