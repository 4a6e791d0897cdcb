/** Every table the code expects; the migrated schema is tested against these definitions. */
import { items as itemsResource } from '../modules/items/items.resource.js'

export { users } from '../modules/users/users.table.js'
export { refreshTokens } from '../modules/auth/refresh-tokens.table.js'
export { emailTokens } from '../modules/account-email/email-tokens.table.js'
export { orgs, memberships } from '../modules/orgs/orgs.table.js'
export { invitations } from '../modules/orgs/invitations.table.js'
export { mailOutbox } from '../modules/mail/mail-outbox.table.js'
export { idempotencyKeys } from '../modules/idempotency/idempotency.table.js'
export const items = itemsResource.table
export { events, eventTickets } from '../modules/events/events.table.js'
export { webhookEndpoints, webhookDeliveries, webhookFanout } from '../modules/webhooks/webhooks.table.js'
