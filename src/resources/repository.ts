import { and, eq, getTableColumns, sql, type Placeholder, type SQL } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import type { Db } from '../db/client.js'
import { isForeignKeyViolation } from '../db/errors.js'
import { UnauthorizedError } from '../shared/errors.js'
import { createPagedLists, type Keyset, type Listing, type Position } from '../shared/listing.js'

/** A list filter: the condition on a bound value, and how a query value becomes that value (e.g. a LIKE pattern). */
export interface ListFilter {
  where(value: Placeholder): SQL
  param?(value: never): unknown
}

export interface OwnedResource<Create extends object> {
  /** Prefix of the prepared statements' names, e.g. `items`. */
  name: string
  table: PgTable
  owner: PgColumn
  id: PgColumn
  /** What a client may write, each with the value an insert takes when the field is not sent (none: required). */
  writable: { [K in keyof Create]-?: Writable }
  /** `defineSorts(...)` of the resource: turns the query's `sort` into ORDER BY. */
  sorts: { orderBy(sort: string): SQL[]; keyset(sort: string): Keyset }
  /** Optional list filters, by query parameter name; a filter applies when its parameter is sent. */
  filters?: Record<string, ListFilter>
  /** Maps unique and foreign-key violations of the resource's own constraints. */
  violations?: ViolationMapper
}

/** A writable column; `toDriver` turns a JSON value into what the statement binds (e.g. a JSON text for jsonb). */
export interface Writable {
  column: PgColumn
  default?: unknown
  toDriver?(value: unknown): unknown
}

/** Turns a constraint violation into the domain error it stands for (a 409, a 422), or undefined to let it through. */
export type ViolationMapper = (err: unknown, statement: 'insert' | 'update' | 'delete') => Error | undefined

export interface ListQuery {
  skip: number
  limit: number
  sort: string
  /** Sent (even empty): a keyset page (SPEC §9), starting after `after` (the decoded cursor) when there is one. */
  cursor?: string
  after?: Position
}

// Explicit casts use the base type: `varchar(255)` as a cast would truncate silently, an assignment refuses.
const baseType = (column: PgColumn) => column.getSQLType().replace(/\(.*\)$/, '')

/**
 * The repository of a resource each user owns. Every statement carries the owner in its WHERE clause, so another
 * user's row is simply not found (404, never 403), and every statement is built once and prepared by name: a request
 * costs one round trip with no SQL building and no planning. Updates are one statement for any subset of fields:
 * `CASE WHEN <field sent> THEN <value> ELSE <column> END`, so a field sent as null is a change, not an absence.
 * The table needs an integer `id`, the owner column and a nullable `updated_at` (stamped by every update).
 */
export function createOwnedRepository<Row, Create extends object, Update extends object, Query extends ListQuery>(
  db: Db, resource: OwnedResource<Create>,
) {
  const { name, table, owner, id } = resource
  const fields = Object.entries(resource.writable) as [string, Writable][]
  const bound = (column: PgColumn, field: string) => sql`${sql.placeholder(field)}::${sql.raw(baseType(column))}`
  const toDriver = (field: Writable, value: unknown) => (value === null || !field.toDriver ? value : field.toDriver(value))
  const translate = async <T>(statement: 'insert' | 'update' | 'delete', run: () => Promise<T>): Promise<T> => {
    try {
      return await run()
    } catch (err) {
      const mapped = resource.violations?.(err, statement)
      if (mapped) throw Object.assign(mapped, { cause: err })
      throw err
    }
  }
  const ownerId = sql.placeholder('ownerId')
  const owned = and(eq(owner, ownerId), eq(id, sql.placeholder('id')))
  const columns = getTableColumns(table) as Record<string, PgColumn>
  const ownerKey = Object.keys(columns).find((key) => columns[key] === owner)!
  const ownerFk = `${name}_owner_id_users_id_fk`

  const findOne = db.select().from(table).where(owned).prepare(`${name}_find_for_owner`)
  const insertOne = db.insert(table)
    // Bound with the column's base type, like the update: no driver-side mapping, the same for every field type.
    .values({ ...Object.fromEntries(fields.map(([field, { column }]) => [field, bound(column, field)])), [ownerKey]: ownerId })
    .returning().prepare(`${name}_insert`)
  const updateOne = db.update(table).set({
    ...Object.fromEntries(fields.map(([field, { column }]) => [field,
      sql`case when ${sql.placeholder(`${field}Sent`)}::boolean then ${bound(column, field)} else ${column} end`])),
    updated_at: sql`now()`,
  }).where(owned).returning().prepare(`${name}_update_for_owner`)
  const deleteOne = db.delete(table).where(owned).returning({ id }).prepare(`${name}_delete_for_owner`)
  const pages = createPagedLists<Row>(db, `${name}_list`, table, columns)
  const filters = Object.entries(resource.filters ?? {})

  return {
    async insert(ownerIdValue: number, input: Create): Promise<Row> {
      // A field sent as null stays null; only an absent one takes the default.
      const values = Object.fromEntries(fields.map(([field, spec]) =>
        [field, toDriver(spec, field in input ? (input as Record<string, unknown>)[field] : spec.default ?? null)]))
      return translate('insert', async () => {
        try {
          const [row] = (await insertOne.execute({ ...values, ownerId: ownerIdValue })) as Row[]
          return row!
        } catch (err) {
          // The owner was deleted between authentication and this insert: the caller no longer exists.
          if (isForeignKeyViolation(err) && constraintOf(err) === ownerFk) throw Object.assign(new UnauthorizedError('This account no longer exists'), { cause: err })
          throw err
        }
      })
    },

    async findForOwner(ownerIdValue: number, rowId: number): Promise<Row | undefined> {
      const [row] = (await findOne.execute({ ownerId: ownerIdValue, id: rowId })) as Row[]
      return row
    },

    listForOwner(ownerIdValue: number, query: Query): Promise<Listing<Row>> {
      const sent = filters.filter(([param]) => (query as Record<string, unknown>)[param] !== undefined)
      const params: Record<string, unknown> = { ownerId: ownerIdValue }
      for (const [param, filter] of sent) {
        const value = (query as Record<string, unknown>)[param]
        params[param] = filter.param ? filter.param(value as never) : value
      }
      const key = `${query.sort}:${sent.map(([param]) => param).join(',')}`
      const shape = () => ({
        where: [eq(owner, ownerId), ...sent.map(([param, filter]) => filter.where(sql.placeholder(param)))],
        orderBy: resource.sorts.orderBy(query.sort),
        keyset: resource.sorts.keyset(query.sort),
      })
      return query.cursor === undefined
        ? pages.list(key, shape, params, query.skip, query.limit)
        : pages.listAfter(key, shape, params, query.after, query.limit)
    },

    /** Changes only the fields sent; an empty change still answers the row (and stamps nothing). */
    async updateForOwner(ownerIdValue: number, rowId: number, changes: Update): Promise<Row | undefined> {
      if (Object.keys(changes).length === 0) return this.findForOwner(ownerIdValue, rowId)
      const params: Record<string, unknown> = { ownerId: ownerIdValue, id: rowId }
      for (const [field, spec] of fields) {
        const value = (changes as Record<string, unknown>)[field]
        params[`${field}Sent`] = value !== undefined
        params[field] = toDriver(spec, value ?? null)
      }
      const [row] = (await translate('update', () => updateOne.execute(params))) as Row[]
      return row
    },

    async deleteForOwner(ownerIdValue: number, rowId: number): Promise<boolean> {
      const rows = (await translate('delete', () => deleteOne.execute({ ownerId: ownerIdValue, id: rowId }))) as unknown[]
      return rows.length > 0
    },
  }
}

/** The name of the constraint a database error is about (node-postgres and PGlite both report it), if any. */
export function constraintOf(err: unknown): string | undefined {
  for (let e = err as { constraint?: unknown; cause?: unknown } | undefined, depth = 0; e && depth < 8; e = e.cause as typeof e, depth++) {
    if (typeof e.constraint === 'string') return e.constraint
  }
  return undefined
}
