/** Every table the code expects; the migrated schema is tested against these definitions. */
export { users } from '../modules/users/users.table.js'
export { items } from '../modules/items/items.table.js'
export { refreshTokens } from '../modules/auth/refresh-tokens.table.js'
export { emailTokens } from '../modules/account-email/email-tokens.table.js'
export { mailOutbox } from '../modules/mail/mail-outbox.table.js'
