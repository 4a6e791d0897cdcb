import { and, asc, count, desc, type SQL } from 'drizzle-orm'
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

export interface ListArgs {
  where: (SQL | undefined)[]
  orderBy: SQL[]
  skip: number
  limit: number
}

/** One page of `table` plus the total number of matches, as a Page. */
export async function listPage<T>(db: Db, table: PgTable, columns: Record<string, PgColumn>, args: ListArgs): Promise<Page<T>> {
  const where = and(...args.where)
  const [rows, [totals]] = await Promise.all([
    db.select(columns).from(table).where(where).orderBy(...args.orderBy).limit(args.limit).offset(args.skip),
    db.select({ total: count() }).from(table).where(where),
  ])
  return toPage(rows as T[], totals?.total ?? 0, args.skip, args.limit)
}
