import { pushSchema } from 'drizzle-kit/api'
import { sql } from 'drizzle-orm'
import type { Database } from '../../src/db/client.js'

/**
 * drizzle-kit reads the columns of a multi-column constraint back in whatever order its (unordered) join returns:
 * the same schema then reads as (owner_id, id) on one engine and (id, owner_id) on another, and a correct table
 * "differs". Ordering those two introspection queries by column position makes its read-back deterministic.
 */
function orderIntrospection(text: string): string {
  if (text.includes('information_schema.constraint_column_usage')) return text.replace(/;\s*$/, ' ORDER BY constraint_name, c.ordinal_position;')
  if (text.includes("con.contype IN ('f')")) return text.replace(/;\s*$/, ' ORDER BY con.conname, att.attnum, fatt.attnum;')
  return text
}

/** The statements drizzle-kit would run to turn the live schema into `tables`: none means they agree. */
export async function diffSchema(database: Database, tables: Record<string, unknown>): Promise<{ statements: string[]; hasDataLoss: boolean }> {
  const schemaName = ((await database.db.execute(sql`select current_schema() as s`)) as unknown as { rows: { s: string }[] }).rows[0]!.s
  const db = {
    execute: (query: { queryChunks: { value: string[] }[] }) => database.db.execute(sql.raw(orderIntrospection(query.queryChunks.map((c) => c.value.join('')).join('')))),
  }
  const { statementsToExecute, hasDataLoss } = await pushSchema(tables, db as never, [schemaName], ['!schemaversion'])
  return { statements: statementsToExecute, hasDataLoss }
}
