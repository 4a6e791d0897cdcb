import { and, eq, getTableColumns, ilike, sql } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { isForeignKeyViolation } from '../../db/errors.js'
import { UnauthorizedError } from '../../shared/errors.js'
import { createPagedLists, likeContains } from '../../shared/listing.js'
import type { Page } from '../../shared/schemas.js'
import { itemSorts, type ItemCreate, type ItemListQuery, type ItemUpdate } from './items.schemas.js'
import { items, type ItemRow } from './items.table.js'

const ownerId = sql.placeholder('ownerId')
const id = sql.placeholder('id')
/** `CASE WHEN <sent> THEN <value> ELSE <column> END`: one statement for any subset of fields (see updateForOwner). */
const setIfSent = (field: string, column: typeof items.name | typeof items.description | typeof items.is_active, type: string) =>
  sql`case when ${sql.placeholder(`${field}Sent`)}::boolean then ${sql.placeholder(field)}::${sql.raw(type)} else ${column} end`

/**
 * Every query carries the owner in its WHERE clause: another user's item is simply not found. Each statement is
 * built once and prepared (named): a request costs one round trip, with no SQL building and no planning.
 */
export function createItemsRepository(db: Db) {
  const owned = and(eq(items.owner_id, ownerId), eq(items.id, id))
  const findOne = db.select().from(items).where(owned).prepare('items_find_for_owner')
  const insertOne = db.insert(items)
    .values({ name: sql.placeholder('name'), description: sql.placeholder('description'), is_active: sql.placeholder('isActive'), owner_id: ownerId })
    .returning().prepare('items_insert')
  // PATCH and PUT send any subset of the fields: a flag per field says whether it changes, so one prepared
  // statement serves every subset (a field sent as null, like description, is a change, not an absence).
  const updateOne = db.update(items).set({
    name: setIfSent('name', items.name, 'varchar'),
    description: setIfSent('description', items.description, 'varchar'),
    is_active: setIfSent('isActive', items.is_active, 'boolean'),
    updated_at: sql`now()`,
  }).where(owned).returning().prepare('items_update_for_owner')
  const deleteOne = db.delete(items).where(owned).returning({ id: items.id }).prepare('items_delete_for_owner')
  const pages = createPagedLists<ItemRow>(db, 'items_list', items, getTableColumns(items))

  return {
    async insert(owner: number, input: ItemCreate): Promise<ItemRow> {
      try {
        const [row] = (await insertOne.execute({
          ownerId: owner, name: input.name, description: input.description ?? null, isActive: input.is_active ?? true,
        })) as ItemRow[]
        return row!
      } catch (err) {
        // The owner was deleted between authentication and this insert: the caller no longer exists.
        if (isForeignKeyViolation(err)) throw Object.assign(new UnauthorizedError('This account no longer exists'), { cause: err })
        throw err
      }
    },
    async findForOwner(owner: number, itemId: number): Promise<ItemRow | undefined> {
      const [row] = (await findOne.execute({ ownerId: owner, id: itemId })) as ItemRow[]
      return row
    },
    listForOwner(owner: number, query: ItemListQuery): Promise<Page<ItemRow>> {
      const filtered = query.is_active !== undefined
      const searched = query.q !== undefined
      return pages.list(`${query.sort}:${filtered}:${searched}`, () => ({
        where: [
          eq(items.owner_id, ownerId),
          filtered ? eq(items.is_active, sql.placeholder('isActive')) : undefined,
          searched ? ilike(items.name, sql.placeholder('q')) : undefined,
        ],
        orderBy: itemSorts.orderBy(query.sort),
      }), { ownerId: owner, isActive: query.is_active, q: searched ? likeContains(query.q!) : undefined }, query.skip, query.limit)
    },
    /** Changes only the fields sent; an empty change still answers the row (and stamps nothing). */
    async updateForOwner(owner: number, itemId: number, changes: ItemUpdate): Promise<ItemRow | undefined> {
      if (Object.keys(changes).length === 0) return this.findForOwner(owner, itemId)
      const [row] = (await updateOne.execute({
        ownerId: owner, id: itemId,
        nameSent: changes.name !== undefined, name: changes.name ?? null,
        descriptionSent: changes.description !== undefined, description: changes.description ?? null,
        isActiveSent: changes.is_active !== undefined, isActive: changes.is_active ?? null,
      })) as ItemRow[]
      return row
    },
    async deleteForOwner(owner: number, itemId: number): Promise<boolean> {
      const rows = (await deleteOne.execute({ ownerId: owner, id: itemId })) as unknown[]
      return rows.length > 0
    },
  }
}
