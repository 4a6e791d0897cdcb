import { createHash } from 'node:crypto'
import { and, asc, count, desc, sql, type SQL } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import { Type } from 'typebox'
import type { Db } from '../db/client.js'
import { toPage, type Page } from './schemas.js'

/**
 * Sort options for a list: each named column sorts ascending, `-name` descending, and the primary key
 * always breaks ties in the same direction, so paging never repeats or skips a row.
 */
export function defineSorts<const K extends string>(columns: Record<K, PgColumn>, tieBreaker: PgColumn) {
  const orders = new Map<string, SQL[]>()
  for (const [name, column] of Object.entries(columns) as [K, PgColumn][]) {
    orders.set(name, column === tieBreaker ? [asc(column)] : [asc(column), asc(tieBreaker)])
    orders.set(`-${name}`, column === tieBreaker ? [desc(column)] : [desc(column), desc(tieBreaker)])
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
  }
}

/** Escapes `%`, `_` and `\` so a user's search text matches literally inside ILIKE '%…%'. */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`
}

/** What one list query is made of; values are `sql.placeholder`s, bound when the statement runs. */
export interface ListShape {
  where: (SQL | undefined)[]
  orderBy: SQL[]
}

const TOTAL = '__total'

/**
 * Paged lists over `table`, one prepared statement per shape (a combination of filters and sort, named by `key`),
 * built and prepared on first use: a list then costs one round trip, with no SQL building and no planning.
 * The total rides along as an uncorrelated subquery, which PostgreSQL evaluates once (an InitPlan); only a page
 * past the end (no rows to carry it) asks for the count on its own.
 */
export function createPagedLists<T>(db: Db, name: string, table: PgTable, columns: Record<string, PgColumn>) {
  const statements = new Map<string, { page: Prepared; count: Prepared }>()
  const prepare = (key: string, shape: ListShape) => {
    const where = and(...shape.where)
    const filter = where ? sql` where ${where}` : sql``
    // Named after the shape, not the order shapes were first used: a name always stands for the same SQL, on
    // every connection, whichever repository instance prepared it first.
    const id = `${name}_${createHash('sha1').update(key).digest('hex').slice(0, 12)}`
    const prepared = {
      page: db.select({ ...columns, [TOTAL]: sql<number>`(select count(*) from ${table}${filter})`.mapWith(Number) })
        .from(table).where(where).orderBy(...shape.orderBy)
        .limit(sql.placeholder('limit')).offset(sql.placeholder('offset')).prepare(`${id}_page`),
      count: db.select({ total: count() }).from(table).where(where).prepare(`${id}_count`),
    }
    statements.set(key, prepared)
    return prepared
  }
  return {
    /** One page for the shape `key` (built by `shape()` the first time), with `params` bound to its placeholders. */
    async list(key: string, shape: () => ListShape, params: Record<string, unknown>, skip: number, limit: number): Promise<Page<T>> {
      const { page, count: countAll } = statements.get(key) ?? prepare(key, shape())
      const rows = (await page.execute({ ...params, limit, offset: skip })) as (T & { [TOTAL]: number })[]
      if (rows.length === 0) {
        const total = skip === 0 ? 0 : ((await countAll.execute(params)) as { total: number }[])[0]?.total ?? 0
        return toPage([], total, skip, limit)
      }
      const total = rows[0]![TOTAL]
      return toPage(rows.map(({ [TOTAL]: _total, ...row }) => row as T), total, skip, limit)
    },
  }
}

interface Prepared {
  execute(params?: Record<string, unknown>): Promise<unknown>
}
