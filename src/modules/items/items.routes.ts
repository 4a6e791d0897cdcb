import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { NotFoundError } from '../../shared/errors.js'
import { AUTHENTICATED_ERRORS, IdParamsSchema, NoContentSchema, problemResponses } from '../../shared/schemas.js'
import { createItemsRepository } from './items.repository.js'
import { ItemCreateSchema, ItemListQuerySchema, ItemSchema, ItemsPageSchema, ItemUpdateSchema, type ItemUpdate } from './items.schemas.js'

const itemResponse = (description: string) => Type.Ref('Item', { description })

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
      tags, operationId: 'createItem', summary: 'Create an item',
      description: 'Creates an item owned by you. `is_active` defaults to true; `owner_id` is always you and cannot be sent.',
      body: ItemCreateSchema,
      response: {
        201: Type.Ref('Item', {
          description: 'The created item',
          headers: { Location: { type: 'string', description: 'The URL of the new item', examples: ['/api/v1/items/1'] } },
        }),
        ...errors(400, 413, 415),
      },
    },
  }, async (request, reply) => {
    const item = await repo.insert(request.user.id, request.body)
    return reply.code(201).header('location', `/api/v1/items/${item.id}`).send(item)
  })

  app.get('/', {
    schema: {
      tags, operationId: 'listItems', summary: 'List your items',
      description: 'Your items only, a page at a time (`skip`, `limit`), filtered by `is_active` and `q` (case-insensitive substring of the name), '
        + 'ordered by `sort` (ties broken by id). `total` counts every match.',
      querystring: ItemListQuerySchema, response: { 200: ItemsPageSchema, ...errors() },
    },
  }, async (request) => repo.listForOwner(request.user.id, request.query))

  app.get('/:id', {
    schema: {
      tags, operationId: 'getItem', summary: 'Get one of your items', description: 'Another user\'s item is 404, as if it did not exist.',
      params: IdParamsSchema, response: { 200: itemResponse('The item'), ...errors(404) },
    },
  }, async (request) => found(await repo.findForOwner(request.user.id, request.params.id)))

  const update = (operationId: string, summary: string) => ({
    schema: {
      tags, operationId, summary,
      description: 'Only the fields sent change; `updated_at` is set. Another user\'s item is 404.',
      params: IdParamsSchema, body: ItemUpdateSchema, response: { 200: itemResponse('The updated item'), ...errors(400, 404, 413, 415) },
    },
  })
  const handleUpdate = async (request: { user: { id: number }; params: { id: number }; body: ItemUpdate }) =>
    found(await repo.updateForOwner(request.user.id, request.params.id, request.body))
  app.put('/:id', update('updateItem', 'Update one of your items'), handleUpdate)
  app.patch('/:id', update('patchItem', 'Partially update one of your items'), handleUpdate)

  app.delete('/:id', {
    schema: {
      tags, operationId: 'deleteItem', summary: 'Delete one of your items', description: 'Deletes the item for good. Another user\'s item is 404.',
      params: IdParamsSchema, response: { 204: NoContentSchema, ...errors(404) },
    },
  }, async (request, reply) => {
    found((await repo.deleteForOwner(request.user.id, request.params.id)) || undefined)
    return reply.code(204).send(null)
  })
}
