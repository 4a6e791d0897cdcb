import { sql } from 'drizzle-orm'
import {
  check, foreignKey, index, integer, pgTable, timestamp, unique, uniqueIndex,
  type ExtraConfigColumn, type PgColumn, type PgColumnBuilderBase, type PgTableWithColumns,
} from 'drizzle-orm/pg-core'
import { orgs } from '../modules/orgs/orgs.table.js'
import { users } from '../modules/users/users.table.js'
import { fieldType, type Field } from './field-types.js'
import type { Scope } from './scope.js'

/** A resource's Drizzle table with its columns by name (the shape every resource shares is checked at run time). */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type ResourceTable = PgTableWithColumns<any>

/** What a referenced resource gives the referencing one: its table and scope, for the composite foreign key. */
export interface RefTarget {
  name: string
  table: ResourceTable
  scope: Scope
  hasTenantKey: boolean
}

type Tenant = Scope['tenantColumn']

/**
 * Names of the constraints and indexes of a resource, shared by the table, the migration and the error mapping.
 * The tenant column (`owner_id` or `org_id`) leads every key, so every lookup and every reference stays in one tenant.
 */
export const constraintNames = (table: string, tenant: Tenant = 'owner_id') => ({
  tenantKey: `${table}_${tenant}_id_key`,
  tenantIndex: `${table}_${tenant}_id_idx`,
  tenantFk: `${table}_${tenant}_${tenant === 'owner_id' ? 'users' : 'orgs'}_id_fk`,
  creatorFk: `${table}_created_by_users_id_fk`,
  creatorIndex: `${table}_created_by_idx`,
  listIndex: (column: string) => `${table}_${tenant}_${column}_id_idx`,
  uniqueKey: (column: string) => `${table}_${tenant}_${column}_key`,
  refFk: (column: string) => `${table}_${column}_fk`,
  enumCheck: (column: string) => `${table}_${column}_check`,
  searchIndex: (column: string) => `${table}_${tenant}_${column}_trgm_idx`,
})

/**
 * Columns that get a `(<tenant>, column, id)` index: each sort (an ordered scan of the owner's rows) and each ref
 * (nested lists, and the referencing rows a delete checks or cascades to). Boolean and enum filters split an owner's
 * rows in a few large parts; the owner index serves them.
 */
export const listIndexColumns = (fields: readonly Field[]) => [
  ...fields.filter((f) => f.sort || f.ref).map((f) => f.name),
  'created_at',
]

/** The SQL text of an enum's CHECK as PostgreSQL prints it back, so the migrated schema equals this table. */
export const enumCheckSql = (field: Field) =>
  `(${field.name} = ANY (ARRAY[${field.values!.map((v) => `'${v}'::text`).join(', ')}]))`

/**
 * The table a declaration describes: `id`, the fields, the tenant (`owner_id` → users, or `org_id` → orgs and
 * `created_by` → users; cascade from the tenant, set null from the creator), `created_at`, `updated_at`, and exactly
 * the constraints and indexes the generated migration creates (test/migrations.test.ts diffs the two).
 * `tenantKey` is the unique `(id, <tenant>)` key a composite foreign key from another resource points at.
 */
export function buildTable(name: string, fields: readonly Field[], refs: Record<string, RefTarget>, tenantKey: boolean, scope: Scope): ResourceTable {
  const tenant = scope.tenantColumn
  const names = constraintNames(name, tenant)
  const columns: Record<string, PgColumnBuilderBase> = { id: integer().primaryKey().generatedAlwaysAsIdentity() }
  for (const field of fields) {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    let column = fieldType(field).drizzle(field) as any
    if (!field.optional) column = column.notNull()
    if (field.default !== undefined && fieldType(field).databaseDefault) column = column.default(field.default)
    columns[field.name] = column
  }
  if (tenant === 'owner_id') columns.owner_id = integer().notNull().references(() => users.id, { onDelete: 'cascade' })
  else {
    columns.org_id = integer().notNull().references(() => orgs.id, { onDelete: 'cascade' })
    columns.created_by = integer().references(() => users.id, { onDelete: 'set null' })
  }
  columns.created_at = timestamp({ withTimezone: true }).notNull().defaultNow()
  columns.updated_at = timestamp({ withTimezone: true })
  // Bumped by every update: the row's ETag and what If-Match compares, in the write's own WHERE (SPEC §9).
  columns.version = integer().notNull().default(1)

  return pgTable(name, columns, (table) => {
    const t = table as unknown as Record<string, PgColumn>
    const extras: unknown[] = [
      // The key a composite foreign key points at, in table column order (id, tenant), as the foreign keys list it.
      ...(tenantKey ? [unique(names.tenantKey).on(t.id!, t[tenant]!)] : []),
      index(names.tenantIndex).on(t[tenant]!, t.id!),
      ...listIndexColumns(fields).map((column) => index(names.listIndex(column)).on(t[tenant]!, t[column]!, t.id!)),
      ...fields.filter((f) => f.unique).map((f) => uniqueIndex(names.uniqueKey(f.name)).on(t[tenant]!, t[f.name]!)),
      // Deleting an account nulls created_by in every org table: without an index each deletion scans them all.
      ...(scope.creatorColumn ? [index(names.creatorIndex).on(t.created_by!)] : []),
      // `q` (ILIKE '%…%') on each :search field is served by a pg_trgm GIN index (SPEC §9) led by the tenant
      // (btree_gin), so a term's candidates are the tenant's alone, not every tenant's to re-check in the heap.
      ...fields.filter((f) => f.search).map((f) => index(names.searchIndex(f.name)).using('gin',
        (t[tenant] as unknown as ExtraConfigColumn).op('int4_ops'), (t[f.name] as unknown as ExtraConfigColumn).op('gin_trgm_ops'))),
      ...fields.filter((f) => f.type === 'enum').map((f) => check(names.enumCheck(f.name), sql.raw(enumCheckSql(f)))),
    ]
    for (const field of fields.filter((f) => f.ref)) {
      const target = refs[field.ref!.resource]!.table as unknown as Record<string, PgColumn>
      // Listed as (ref, tenant) → (id, tenant): column order in the table, the order drizzle-kit reads keys back in.
      const fk = foreignKey({ name: names.refFk(field.name), columns: [t[field.name]!, t[tenant]!], foreignColumns: [target.id!, target[tenant]!] })
      extras.push(field.ref!.onDelete === 'cascade' ? fk.onDelete('cascade') : field.ref!.onDelete === 'set-null' ? fk.onDelete('set null') : fk)
    }
    return extras as never[]
  })
}
