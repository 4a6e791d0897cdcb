import type { FastifyPluginAsync } from 'fastify'
import { eq, ilike, or, sql, type SQL } from 'drizzle-orm'
import type { PgColumn } from 'drizzle-orm/pg-core'
import type { Db } from '../db/client.js'
import { isForeignKeyViolation, isUniqueViolation } from '../db/errors.js'
import { ConflictError, ValidationError } from '../shared/errors.js'
import { likeContains } from '../shared/listing.js'
import type { Page } from '../shared/schemas.js'
import { fieldType, type Field } from './field-types.js'
import { GrammarError, assertName, parseFields, pascalCase, singularOf } from './grammar.js'
import { constraintOf, createScopedRepository, type ListFilter, type ListQuery, type ViolationMapper, type Writable } from './repository.js'
import { buildResourceRoutes } from './routes.js'
import { buildSchemas } from './schemas.js'
import { scopeOf, type AccessRule, type Caller, type Operation, type ScopeKind } from './scope.js'
import { buildTable, constraintNames, type RefTarget } from './table.js'

export type Row = Record<string, unknown> & { id: number }
type Body = Record<string, unknown>

/**
 * Rules a resource adds around the core's writes: return the (possibly changed) body, or throw an AppError.
 * `caller.tenantId` is the owner (user resources) or the org (org resources); `caller.userId` is who asks.
 */
export interface ResourceHooks {
  beforeCreate?(caller: Caller, body: Body, db: Db): Body | Promise<Body>
  beforeUpdate?(caller: Caller, id: number, changes: Body, db: Db): Body | Promise<Body>
}

/** One resource, as its `<name>.resource.ts` declares it. Everything else is derived by the core. */
export interface ResourceDeclaration {
  /** Plural snake_case: the table and the URL (`/api/v1/<name>`). */
  name: string
  /** Defaults to a simple singular of `name` (`tasks` → `task`). */
  singular?: string
  /** Fields in the grammar of SPEC §5, e.g. `title:string:search:sort`. */
  fields: readonly string[]
  /** `user` (the default: each row is its owner's alone) or `org` (rows an org's members share, by role; SPEC §8). */
  scope?: ScopeKind
  /** Org resources: the minimum role per operation, or `creator` for update and delete (defaults: see scope.ts). */
  access?: Partial<Record<Operation, AccessRule>>
  /** The resources the `ref{…}` fields point at, by name. */
  refs?: Record<string, Resource>
  /** A referenced resource whose collection nests this one: `/api/v1/<parent>/{<parent_singular>_id}/<name>`. */
  parent?: string
  examples?: Record<string, unknown>
  overrides?: Record<string, object>
  hooks?: ResourceHooks
  /**
   * Whether the table has `UNIQUE (owner_id, id)`, which references from other resources need (the default).
   * Items predates references: its migration has a plain `(owner_id, id)` index, so it cannot be referenced.
   */
  ownerKey?: boolean
}

export type ResourceRepository = ReturnType<typeof createScopedRepository<Row, Body, Body, ListQuery & Body>>

export interface Resource extends RefTarget {
  singular: string
  title: string
  fields: readonly Field[]
  /** The resources its ref fields point at, by name. */
  refs: Record<string, Resource>
  parent?: { resource: Resource; field: string }
  schemas: ReturnType<typeof buildSchemas>
  repository(db: Db): ResourceRepository
  /** The Fastify plugin with every route; register it under `/api/v1`. */
  routes: FastifyPluginAsync
  hooks: ResourceHooks
}

/** Turns a declaration into the table, the schemas, the owned repository and the routes (see docs/resources.md). */
export function defineResource(declaration: ResourceDeclaration): Resource {
  const { name, refs = {} } = declaration
  assertName(name, 'resource')
  const singular = declaration.singular ?? singularOf(name)
  const fields = parseFields(declaration.fields)
  const scope = scopeOf(name, declaration.scope, declaration.access)
  for (const field of fields.filter((f) => f.ref)) {
    const target = refs[field.ref!.resource]
    if (!target) throw new GrammarError(`field "${field.name}": ref{${field.ref!.resource}} is not a resource passed in refs`)
    if (target.scope.kind !== scope.kind) {
      throw new GrammarError(`field "${field.name}": ${name} is ${scope.kind}-scoped and ${target.name} ${target.scope.kind}-scoped; a ref stays within one scope`)
    }
    if (!target.hasTenantKey) throw new GrammarError(`field "${field.name}": ${target.name} has no (${scope.tenantColumn}, id) key to reference`)
  }
  const parentField = declaration.parent === undefined ? undefined : fields.find((f) => f.ref?.resource === declaration.parent)
  if (declaration.parent !== undefined && !parentField) throw new GrammarError(`parent ${declaration.parent} needs a ref{${declaration.parent}} field`)

  const hasTenantKey = declaration.ownerKey ?? true
  const table = buildTable(name, fields, refs, hasTenantKey, scope)
  const title = pascalCase(singular)
  const schemas = buildSchemas({
    title, singular, fields, table, scope, examples: declaration.examples ?? {}, overrides: declaration.overrides ?? {}, parentField: parentField?.name,
  })
  const resource: Resource = {
    name, singular, title, fields, refs, table, scope, schemas, hasTenantKey, hooks: declaration.hooks ?? {},
    parent: parentField ? { resource: refs[declaration.parent!]!, field: parentField.name } : undefined,
    repository: (db) => createResourceRepository(db, resource),
    routes: async (app) => buildResourceRoutes(app, resource),
  }
  return resource
}

function createResourceRepository(db: Db, resource: Resource): ResourceRepository {
  const { name, table, fields, schemas } = resource
  const column = (field: string) => table[field] as PgColumn
  const writable = Object.fromEntries(fields.map((f): [string, Writable] => [f.name, {
    column: column(f.name),
    default: f.default ?? (f.optional ? null : undefined),
    // jsonb is bound as its JSON text: both drivers then store exactly the object sent.
    toDriver: f.type === 'json' ? (value) => JSON.stringify(value) : undefined,
  }]))
  const filters: Record<string, ListFilter> = Object.fromEntries(fields.filter((f) => fieldType(f).filter)
    .map((f) => [f.name, { where: (value) => eq(column(f.name), value) }]))
  if (schemas.search.length) {
    // `q` is a substring of any searchable field: %, _ and \ in it match literally. A term with no trigram (no run of
    // three letters or digits) gets its own statement, on `field || ''`, which the trigram index cannot serve: a
    // generic plan, blind to the term, would read the whole index for it (1.7 s at a million rows, docs/scale.md).
    const searched = (f: Field, narrowed: boolean) => (narrowed ? column(f.name) : sql`(${column(f.name)} || '')`)
    filters.q = {
      where: (value, narrowed) => or(...schemas.search.map((f) => ilike(searched(f, narrowed), value))) as SQL,
      param: likeContains,
      narrows: (term: string) => /[a-z0-9]{3}/i.test(term),
    }
  }
  return createScopedRepository<Row, Body, Body, ListQuery & Body>(db, {
    name, aSingular: aOrAn(resource.singular), table, tenant: column(resource.scope.tenantColumn),
    creator: resource.scope.creatorColumn && column(resource.scope.creatorColumn),
    id: column('id'), writable, sorts: schemas.sorts, filters, violations: violationsOf(resource),
  })
}

/** Constraint violations of a resource's own keys, as the answers SPEC §5 gives for them. */
function violationsOf({ name, singular, fields, scope }: Resource): ViolationMapper {
  const names = constraintNames(name, scope.tenantColumn)
  const who = scope.kind === 'org' ? 'The org already has' : 'You already have'
  return (err, statement) => {
    const constraint = constraintOf(err)
    if (isUniqueViolation(err)) {
      const field = fields.find((f) => names.uniqueKey(f.name) === constraint)
      if (field) return new ConflictError(`${who} ${aOrAn(singular)} with this ${field.name}`)
    }
    if (!isForeignKeyViolation(err)) return undefined
    if (statement === 'delete') return new ConflictError(`This ${singular} is still referenced; delete those rows first`)
    const field = fields.find((f) => f.ref && names.refFk(f.name) === constraint)
    // A missing row and another tenant's row are the same answer: the composite key cannot tell them apart either.
    if (field) return new ValidationError([{ field: `body.${field.name}`, message: `must be the id of one of ${scope.whose} ${field.ref!.resource}` }])
    return undefined
  }
}

/** `a task`, `an item`. */
export const aOrAn = (word: string) => `${/^[aeiou]/.test(word) ? 'an' : 'a'} ${word}`

export type { Page }
