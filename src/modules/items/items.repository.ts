import { eq, ilike } from 'drizzle-orm'
import type { Db } from '../../db/client.js'
import { likeContains } from '../../shared/listing.js'
import { createOwnedRepository } from '../../shared/owned-repository.js'
import { itemSorts, type ItemCreate, type ItemListQuery, type ItemUpdate } from './items.schemas.js'
import { items, type ItemRow } from './items.table.js'

/** Items, owned by their user: every statement has the owner in its WHERE clause (see shared/owned-repository.ts). */
export function createItemsRepository(db: Db) {
  return createOwnedRepository<ItemRow, ItemCreate, ItemUpdate, ItemListQuery>(db, {
    name: 'items',
    table: items,
    owner: items.owner_id,
    id: items.id,
    writable: {
      name: { column: items.name },
      description: { column: items.description, default: null },
      is_active: { column: items.is_active, default: true },
    },
    sorts: itemSorts,
    filters: {
      is_active: { where: (value) => eq(items.is_active, value) },
      // `q` is a substring of the name: %, _ and \ in it match literally.
      q: { where: (value) => ilike(items.name, value), param: likeContains },
    },
  })
}
