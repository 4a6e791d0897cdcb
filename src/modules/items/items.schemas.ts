import { Type, type Static } from 'typebox'
import { defineSorts } from '../../shared/listing.js'
import { PageSchema, PagingQuerySchema } from '../../shared/schemas.js'
import { items } from './items.table.js'

const Name = Type.String({ minLength: 1, maxLength: 255, description: '1–255 characters', examples: ['Notebook'] })
const Description = Type.Union([Type.String({ maxLength: 1000 }), Type.Null()], { description: 'At most 1000 characters', examples: ['A5, dotted'] })
const Timestamp = Type.String({ format: 'date-time', examples: ['2026-11-23T18:00:00.000Z'] })

export const itemSorts = defineSorts({ id: items.id, name: items.name, created_at: items.created_at }, items.id)

const itemExample = {
  id: 1,
  name: 'Notebook',
  description: 'A5, dotted',
  is_active: true,
  owner_id: 1,
  created_at: '2026-11-23T18:00:00.000Z',
  updated_at: null,
}

export const ItemSchema = Type.Object({
  id: Type.Integer({ examples: [1] }),
  name: Type.String({ examples: ['Notebook'] }),
  description: Type.Union([Type.String(), Type.Null()]),
  is_active: Type.Boolean({ examples: [true] }),
  owner_id: Type.Integer({ description: 'The user who owns the item: always you', examples: [1] }),
  created_at: Timestamp,
  updated_at: Type.Union([Timestamp, Type.Null()], { description: 'Null until the first update' }),
}, { $id: 'Item', title: 'Item', examples: [itemExample] })

export const ItemCreateSchema = Type.Object({
  name: Name,
  description: Type.Optional(Description),
  is_active: Type.Optional(Type.Boolean({ default: true, examples: [true] })),
}, { additionalProperties: false, title: 'ItemCreate', examples: [{ name: 'Notebook', description: 'A5, dotted' }] })

export const ItemUpdateSchema = Type.Object({
  name: Type.Optional(Name),
  description: Type.Optional(Description),
  is_active: Type.Optional(Type.Boolean({ examples: [false] })),
}, { additionalProperties: false, title: 'ItemUpdate', description: 'Only the fields sent change.', examples: [{ is_active: false }] })

export const ItemListQuerySchema = Type.Object({
  ...PagingQuerySchema,
  is_active: Type.Optional(Type.Boolean({ description: 'Only active (true) or inactive (false) items' })),
  q: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Case-insensitive substring of the name' })),
  sort: itemSorts.schema('id'),
}, { additionalProperties: false })

export const ItemsPageSchema = PageSchema(Type.Ref('Item'), 'Item', itemExample)

export type ItemCreate = Static<typeof ItemCreateSchema>
export type ItemUpdate = Static<typeof ItemUpdateSchema>
export type ItemListQuery = Static<typeof ItemListQuerySchema>
