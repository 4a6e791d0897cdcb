/** Every table the code expects; the migrated schema is tested against these definitions. */
export { users } from '../modules/users/users.table.js'
export { items } from '../modules/items/items.table.js'
export { refreshTokens } from '../modules/auth/refresh-tokens.table.js'
