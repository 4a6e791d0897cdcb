import { and, eq, getTableColumns, ilike, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { isForeignKeyViolation } from '../../db/errors.js'
import { UnauthorizedError } from '../../shared/errors.js'
import { likeContains, listPage } from '../../shared/listing.js'
import type { Page } from '../../shared/schemas.js'
import { itemSorts, type ItemCreate, type ItemListQuery, type ItemUpdate } from './items.schemas.js'
import { items, type ItemRow } from './items.table.js'

const columns = getTableColumns(items)

/** Every query carries the owner in its WHERE clause: another user's item is simply not found. */
export function createItemsRepository(db: Db) {
  const owned = (ownerId: number, id: number) => and(eq(items.owner_id, ownerId), eq(items.id, id))
  // The hottest query, built once: Drizzle skips rebuilding the SQL, PostgreSQL parses it once per connection.
  const findOne = db.select().from(items)
    .where(and(eq(items.owner_id, sql.placeholder('ownerId')), eq(items.id, sql.placeholder('id'))))
    .prepare('items_find_for_owner')

  return {
    async insert(ownerId: number, input: ItemCreate): Promise<ItemRow> {
      try {
        const [row] = await db.insert(items).values({ ...input, owner_id: ownerId }).returning()
        return row!
      } catch (err) {
        // The owner was deleted between authentication and this insert: the caller no longer exists.
        if (isForeignKeyViolation(err)) throw Object.assign(new UnauthorizedError('This account no longer exists'), { cause: err })
        throw err
      }
    },

    async findForOwner(ownerId: number, id: number): Promise<ItemRow | undefined> {
      const [row] = (await findOne.execute({ ownerId, id })) as ItemRow[]
      return row
    },

    listForOwner(ownerId: number, query: ItemListQuery): Promise<Page<ItemRow>> {
      return listPage<ItemRow>(db, items, columns, {
        where: [
          eq(items.owner_id, ownerId),
          query.is_active === undefined ? undefined : eq(items.is_active, query.is_active),
          query.q === undefined ? undefined : ilike(items.name, likeContains(query.q)),
        ],
        orderBy: itemSorts.orderBy(query.sort),
        skip: query.skip,
        limit: query.limit,
      })
    },

    /** Changes only the fields sent; an empty change still answers the row (and stamps nothing). */
    async updateForOwner(ownerId: number, id: number, changes: ItemUpdate): Promise<ItemRow | undefined> {
      if (Object.keys(changes).length === 0) return this.findForOwner(ownerId, id)
      const [row] = await db.update(items).set({ ...changes, updated_at: sql`now()` }).where(owned(ownerId, id)).returning()
      return row
    },

    async deleteForOwner(ownerId: number, id: number): Promise<boolean> {
      const rows = await db.delete(items).where(owned(ownerId, id)).returning({ id: items.id })
      return rows.length > 0
    },
  }
}
