import { createHash } from 'node:crypto'
import { and, asc, count, desc, sql, type SQL } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import { Type } from 'typebox'
import type { Db } from '../db/client.js'

/**
 * Sort options for a list: each named column sorts ascending, `-name` descending, and the primary key
 * always breaks ties in the same direction, so paging never repeats or skips a row.
 */
export function defineSorts<const K extends string>(columns: Record<K, PgColumn>, tieBreaker: PgColumn) {
  const orders = new Map<string, SQL[]>()
  const keysets = new Map<string, Keyset>()
  for (const [name, column] of Object.entries(columns) as [K, PgColumn][]) {
    orders.set(name, column === tieBreaker ? [asc(column)] : [asc(column), asc(tieBreaker)])
    orders.set(`-${name}`, column === tieBreaker ? [desc(column)] : [desc(column), desc(tieBreaker)])
    const sortColumn = column === tieBreaker ? undefined : column
    keysets.set(name, { column: sortColumn, tie: tieBreaker, descending: false })
    keysets.set(`-${name}`, { column: sortColumn, tie: tieBreaker, descending: true })
  }
  const names = [...orders.keys()] as (K | `-${K}`)[]
  return {
    names,
    // One string enum (not a union of literals): clearer in the docs and in generated clients.
    schema: (defaultSort: K) => Type.Unsafe<K | `-${K}`>({
      type: 'string',
      enum: names,
      default: defaultSort,
      description: `Sort order: ${names.join(', ')} (a leading - sorts descending)`,
    }),
    orderBy: (name: string): SQL[] => orders.get(name) ?? orders.get(names[0]!)!,
    keyset: (name: string): Keyset => keysets.get(name) ?? keysets.get(names[0]!)!,
  }
}

/** A sort as keyset pagination sees it: the sort column (none when sorting by the tie-breaker itself), its direction. */
export interface Keyset {
  column: PgColumn | undefined
  tie: PgColumn
  descending: boolean
}

/** Where a page ends: its last row's sort value as PostgreSQL prints it (null: NULL, or sorted by id) and its id. */
export interface Position {
  value: string | null
  id: number
}

/** A page of a list: `total` and `page` are null on keyset (cursor) pages; `next` is where the next page starts. */
export interface Listing<T> {
  items: T[]
  total: number | null
  page: number | null
  size: number
  next: Position | null
}

export type OffsetListing<T> = Listing<T> & { total: number; page: number }

// Explicit casts use the base type: `varchar(255)` as a cast would truncate silently, an assignment refuses.
export const baseType = (column: PgColumn) => column.getSQLType().replace(/\(.*\)$/, '')

/**
 * Rows after `afterValue`/`afterId` in the keyset's order. A row comparison `(column, id) > (v, i)` walks the
 * `(owner, column, id)` index from the position on. A nullable column needs the NULLs placed as ORDER BY places
 * them (last ascending, first descending), so a page may start among them; the value is cast back from its text.
 */
function afterCondition({ column, tie, descending }: Keyset, afterNull: boolean): SQL {
  const id = sql.placeholder('afterId')
  const past = sql.raw(descending ? '<' : '>')
  if (!column) return sql`${tie} ${past} ${id}`
  const beyond = sql`(${column}, ${tie}) ${past} (${sql.placeholder('afterValue')}::${sql.raw(baseType(column))}, ${id})`
  if (column.notNull) return beyond
  if (descending) return afterNull ? sql`((${column} is null and ${tie} < ${id}) or ${column} is not null)` : beyond
  return afterNull ? sql`(${column} is null and ${tie} > ${id})` : sql`(${beyond} or ${column} is null)`
}

/** Escapes `%`, `_` and `\` so a user's search text matches literally inside ILIKE '%…%'. */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

/** What one list query is made of; values are `sql.placeholder`s, bound when the statement runs. */
export interface ListShape {
  where: (SQL | undefined)[]
  orderBy: SQL[]
  /** The sort as keyset pages need it; a list that offers only offset pages may leave it out. */
  keyset?: Keyset
  /**
   * An index narrows the filters to few rows (a `q` term with a trigram): offset pages collect the matches once,
   * for their count and their page (needs `keyset`).
   */
  gather?: boolean
}

const TOTAL = '__total'
const AT = '__at'
type Fetched<T> = T & { [TOTAL]?: number; [AT]: string | null; id: number }

/**
 * Paged lists over `table`, prepared statements per shape (a combination of filters and sort, named by `key`),
 * built and prepared on first use: a list then costs one round trip, with no SQL building and no planning.
 * Offset pages carry the total as an uncorrelated subquery, which PostgreSQL evaluates once (an InitPlan); only a
 * page past the end (no rows to carry it) asks for the count on its own. Keyset pages (`listAfter`) count nothing
 * and read one row more than the page to know whether another page follows. Every row carries its sort value as
 * text (`__at`), so a page knows where the next one starts.
 */
export function createPagedLists<T>(db: Db, name: string, table: PgTable, columns: Record<string, PgColumn>) {
  const shapes = new Map<string, ListShape>()
  const statements = new Map<string, Prepared>()
  // Named after the shape, not the order shapes were first used: a name always stands for the same SQL, on
  // every connection, whichever repository instance prepared it first.
  const prepared = (key: string, statement: string, build: (shape: ListShape, id: string) => Prepared) => {
    const cached = statements.get(`${key}:${statement}`)
    if (cached) return cached
    const built = build(shapes.get(key)!, `${name}_${createHash('sha1').update(key).digest('hex').slice(0, 12)}_${statement}`)
    statements.set(`${key}:${statement}`, built)
    return built
  }
  const at = (keyset: Keyset | undefined) => sql<string | null>`${keyset?.column ?? sql`null`}::text`
  // Each page statement decodes its rows itself, from the arrays drizzle asks the driver for (the select's keys in
  // order: the columns, then the extras), through each column's own decoder. Drizzle's generic mapper resolves
  // every value's class and path again on every row: ~1.8 µs a row, ~38 µs a page in a profile of the list, the
  // largest single cost Keel adds to it.
  const decoders = Object.values(columns).map((column) => (value: unknown) => column.mapFromDriverValue(value))
  const pageRows = <P>(statement: P, extras: readonly string[]): P => {
    const keys = [...Object.keys(columns), ...extras]
    const decode = [...decoders, ...extras.map((key) => (key === TOTAL ? Number : (value: unknown) => value))]
    const customResultMapper = (rows: unknown[][]) => rows.map((row) => {
      const out: Record<string, unknown> = {}
      for (let i = 0; i < keys.length; i++) out[keys[i]!] = row[i] === null ? null : decode[i]!(row[i])
      return out
    })
    return Object.assign(statement as object, { customResultMapper }) as P
  }
  // The offset page of a `gather` shape. The matches are a CTE that PostgreSQL materializes (it is read twice):
  // the count and the page's ids come from it, then the page's rows by id. Left to itself the planner walks the
  // sort's index and tests each row it passes, as cheap as an integer comparison in its costs, though ILIKE takes
  // ~1 µs: at a million rows it tested 36,000 names for 20 of an owner's 722 matches (docs/scale.md).
  const gathered = ({ where, orderBy, keyset }: ListShape, id: string) => {
    const { column, tie, descending } = keyset!
    const matches = db.$with('matches').as(db.select({ id: sql<number>`${tie}`.as('id'), v: sql`${column ?? tie}`.as('v') })
      .from(table).where(and(...where)))
    const direction = sql.raw(descending ? 'desc' : 'asc')
    return pageRows(db.with(matches).select({ ...columns, [TOTAL]: sql<number>`(select count(*) from ${matches})`.mapWith(Number), [AT]: at(keyset) })
      .from(table)
      .where(sql`${tie} in (select ${matches.id} from ${matches} order by ${matches.v} ${direction}, ${matches.id} ${direction}
        limit ${sql.placeholder('limit')} offset ${sql.placeholder('offset')})`)
      .orderBy(...orderBy).prepare(id), [TOTAL, AT])
  }
  const items = (rows: Fetched<T>[]) => rows.map(({ [TOTAL]: _total, [AT]: _at, ...row }) => row as T)
  const positionOf = (row: Fetched<T>): Position => ({ value: row[AT], id: row.id })

  return {
    /** One offset page for the shape `key` (built by `shape()` the first time), with `params` bound to its placeholders. */
    async list(key: string, shape: () => ListShape, params: Record<string, unknown>, skip: number, limit: number): Promise<OffsetListing<T>> {
      if (!shapes.has(key)) shapes.set(key, shape())
      const page = prepared(key, 'page', (shape, id) => {
        const { where, orderBy, keyset } = shape
        if (shape.gather && keyset) return gathered(shape, id)
        const filter = and(...where)
        return pageRows(db.select({ ...columns, [TOTAL]: sql<number>`(select count(*) from ${table}${filter ? sql` where ${filter}` : sql``})`.mapWith(Number), [AT]: at(keyset) })
          .from(table).where(filter).orderBy(...orderBy).limit(sql.placeholder('limit')).offset(sql.placeholder('offset')).prepare(id), [TOTAL, AT])
      })
      const rows = (await page.execute({ ...params, limit, offset: skip })) as Fetched<T>[]
      const pageNumber = Math.floor(skip / limit) + 1
      if (rows.length === 0) {
        const countAll = prepared(key, 'count', ({ where }, id) => db.select({ total: count() }).from(table).where(and(...where)).prepare(id))
        const total = skip === 0 ? 0 : ((await countAll.execute(params)) as { total: number }[])[0]?.total ?? 0
        return { items: [], total, page: pageNumber, size: limit, next: null }
      }
      const total = rows[0]![TOTAL]!
      return { items: items(rows), total, page: pageNumber, size: limit, next: skip + rows.length < total ? positionOf(rows.at(-1)!) : null }
    },

    /** One keyset page: the first when `after` is undefined, else the rows after that position in the shape's order. */
    async listAfter(key: string, shape: () => ListShape, params: Record<string, unknown>, after: Position | undefined, limit: number): Promise<Listing<T>> {
      if (!shapes.has(key)) shapes.set(key, shape())
      const keyset = shapes.get(key)!.keyset!
      const mode = after === undefined ? 'first' : after.value === null && keyset.column ? 'after_null' : 'after'
      const page = prepared(key, mode, ({ where, orderBy }, id) => pageRows(db.select({ ...columns, [AT]: at(keyset) }).from(table)
        .where(and(...where, mode === 'first' ? undefined : afterCondition(keyset, mode === 'after_null')))
        .orderBy(...orderBy).limit(sql.placeholder('limit')).prepare(id), [AT]))
      const rows = (await page.execute({ ...params, limit: limit + 1, afterValue: after?.value, afterId: after?.id })) as Fetched<T>[]
      const more = rows.length > limit
      const shown = rows.slice(0, limit)
      return { items: items(shown), total: null, page: null, size: limit, next: more ? positionOf(shown.at(-1)!) : null }
    },
  }
}

interface Prepared {
  execute(params?: Record<string, unknown>): Promise<unknown>
}
