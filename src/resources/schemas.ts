import { Type, type TSchema } from 'typebox'
import { defineSorts } from '../shared/listing.js'
import { PagingQuerySchema } from '../shared/schemas.js'
import { CursorQuerySchema, ListPageSchema } from './pages.js'
import { fieldType, type Field } from './field-types.js'
import type { Scope } from './scope.js'
import type { ResourceTable } from './table.js'

const Timestamp = Type.String({ format: 'date-time', examples: ['2026-11-23T18:00:00.000Z'] })
const nullable = (schema: TSchema, options: { description?: string } = {}) => Type.Union([schema, Type.Null()], options)

export interface SchemaOptions {
  title: string
  singular: string
  fields: readonly Field[]
  table: ResourceTable
  scope: Scope
  /** Example values by field (else each type's own example). */
  examples: Record<string, unknown>
  /** Extra keywords merged into a field's input schema, e.g. `{ minLength: 0 }`. */
  overrides: Record<string, object>
  /** The ref field the nested routes take from the path, if any. */
  parentField?: string
}

/** The output, create, update, list-query and page schemas of a resource, derived from its fields. */
export function buildSchemas({ title, singular, fields, table, scope, examples, overrides, parentField }: SchemaOptions) {
  const exampleOf = (f: Field) => (f.name in examples ? examples[f.name] : fieldType(f).example(f))
  const tenantExample = scope.kind === 'org' ? { org_id: 1, created_by: 1 } : { owner_id: 1 }
  const example = {
    id: 1, ...Object.fromEntries(fields.map((f) => [f.name, exampleOf(f)])), ...tenantExample,
    created_at: '2026-11-23T18:00:00.000Z', updated_at: null,
  }
  const input = (f: Field, extra: object = {}) => {
    const schema: TSchema & { description?: string; examples?: unknown[] } = { ...fieldType(f).input(f), ...overrides[f.name], examples: [exampleOf(f)], ...extra }
    return f.optional ? nullable(schema, schema.description ? { description: schema.description } : {}) : schema
  }
  const exampleBody = (omit?: string) => Object.fromEntries(fields.filter((f) => f.default === undefined && f.name !== omit).map((f) => [f.name, exampleOf(f)]))

  const output = Type.Object({
    id: Type.Integer({ examples: [1] }),
    ...Object.fromEntries(fields.map((f) => {
      const schema = { ...fieldType(f).output(f), examples: [exampleOf(f)] }
      return [f.name, f.optional ? nullable(schema) : schema]
    })),
    ...(scope.kind === 'org' ? {
      org_id: Type.Integer({ description: `The org the ${singular} belongs to`, examples: [1] }),
      created_by: nullable(Type.Integer({ examples: [1] }), { description: `The user who created the ${singular}; null once that account is deleted` }),
    } : {
      owner_id: Type.Integer({ description: `The user who owns the ${singular}: always you`, examples: [1] }),
    }),
    created_at: Timestamp,
    updated_at: nullable(Timestamp, { description: 'Null until the first update' }),
  }, { $id: title, title, examples: [example] })

  const createProperties = (omit?: string) => Object.fromEntries(fields.filter((f) => f.name !== omit).map((f) => {
    const required = !f.optional && f.default === undefined
    const schema = input(f, f.default === undefined ? {} : { default: f.default })
    return [f.name, required ? schema : Type.Optional(schema)]
  }))
  const closed = (name: string, properties: Record<string, TSchema>, exampleBody: object, description?: string) =>
    Type.Object(properties, { additionalProperties: false, title: name, examples: [exampleBody], ...(description ? { description } : {}) })
  const firstField = fields.find((f) => f.name !== parentField)
  const updateExample = firstField ? { [firstField.name]: exampleOf(firstField) } : {}

  const search = fields.filter((f) => f.search)
  const sorts = defineSorts({
    id: table.id,
    ...Object.fromEntries(fields.filter((f) => f.sort).map((f) => [f.name, table[f.name]])),
    created_at: table.created_at,
  }, table.id)
  const listQuery = (omit?: string) => Type.Object({
    ...PagingQuerySchema,
    ...CursorQuerySchema,
    ...Object.fromEntries(fields.filter((f) => fieldType(f).filter && f.name !== omit).map((f) => [f.name,
      Type.Optional({ ...fieldType(f).input(f), description: `Only ${title} records with this ${f.name}` })])),
    ...(search.length ? {
      q: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: `Case-insensitive substring of the ${search.map((f) => f.name).join(' or ')}` })),
    } : {}),
    sort: sorts.schema('id'),
  }, { additionalProperties: false })

  return {
    output,
    create: closed(`${title}Create`, createProperties(), exampleBody()),
    createNested: closed(`${title}CreateNested`, createProperties(parentField), exampleBody(parentField)),
    update: closed(`${title}Update`, Object.fromEntries(fields.map((f) => [f.name, Type.Optional(input(f))])), updateExample, 'Only the fields sent change.'),
    listQuery: listQuery(),
    nestedListQuery: listQuery(parentField),
    page: ListPageSchema(Type.Ref(title), title, example as never),
    sorts,
    search,
  }
}
