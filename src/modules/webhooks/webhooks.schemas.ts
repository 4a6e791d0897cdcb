import { Type } from 'typebox'
import { PageSchema, PagingQuerySchema } from '../../shared/schemas.js'

const Timestamp = Type.String({ format: 'date-time', examples: ['2026-12-03T23:40:01.123Z'] })
const TypePattern = '^[a-z][a-z0-9_]*\\.(created|updated|deleted)$'
const url = Type.String({ minLength: 1, maxLength: 2_000, description: 'https URL to POST events to', examples: ['https://hooks.example.com/keel'] })
const types = Type.Array(Type.String({ pattern: TypePattern, examples: ['items.created'] }), {
  maxItems: 100, uniqueItems: true, description: 'Event types to send; empty or absent: all', examples: [['items.created', 'items.deleted']],
})

const endpointExample = {
  id: 1, url: 'https://hooks.example.com/keel', types: ['items.created'], enabled: true, consecutive_failures: 0,
  disabled_reason: null, created_at: '2026-12-03T23:40:01.123Z', updated_at: null,
}

export const WebhookSchema = Type.Object({
  id: Type.Integer({ examples: [1] }),
  url: Type.String({ examples: ['https://hooks.example.com/keel'] }),
  types: Type.Array(Type.String({ examples: ['items.created'] })),
  enabled: Type.Boolean({ description: 'False once disabled (by you, or after too many failed attempts in a row)', examples: [true] }),
  consecutive_failures: Type.Integer({ examples: [0] }),
  disabled_reason: Type.Union([Type.String({ examples: ['disabled after 50 failed attempts in a row'] }), Type.Null()]),
  created_at: Timestamp,
  updated_at: Type.Union([Timestamp, Type.Null()]),
}, { $id: 'Webhook', title: 'Webhook', examples: [endpointExample] })

export const WebhookCreatedSchema = Type.Object({
  ...WebhookSchema.properties,
  secret: Type.String({ description: 'The signing secret (Standard Webhooks, whsec_…): shown only in this answer', examples: ['whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'] }),
}, { $id: 'WebhookCreated', title: 'WebhookCreated', examples: [{ ...endpointExample, secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' }] })

export const WebhookCreateSchema = Type.Object({ url, types: Type.Optional(types) }, {
  additionalProperties: false, title: 'WebhookCreate', examples: [{ url: 'https://hooks.example.com/keel', types: ['items.created'] }],
})

export const WebhookUpdateSchema = Type.Object({
  url: Type.Optional(url), types: Type.Optional(types),
  enabled: Type.Optional(Type.Boolean({ description: 'true re-enables a disabled endpoint (its failure count restarts)', examples: [true] })),
}, { additionalProperties: false, title: 'WebhookUpdate', examples: [{ enabled: true }] })

const deliveryExample = {
  id: 7, event_id: 42, event_type: 'items.created', status: 'delivered', attempts: 1, response_status: 204, last_error: null,
  created_at: '2026-12-03T23:40:01.123Z', next_attempt_at: '2026-12-03T23:40:01.123Z', finished_at: '2026-12-03T23:40:01.456Z',
}

export const WebhookDeliverySchema = Type.Object({
  id: Type.Integer({ description: 'Also the webhook-id header: msg_<id>', examples: [7] }),
  event_id: Type.Integer({ examples: [42] }),
  event_type: Type.String({ examples: ['items.created'] }),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer({ examples: [1] }),
  response_status: Type.Union([Type.Integer({ examples: [204] }), Type.Null()], { description: 'The last answer\'s HTTP status' }),
  last_error: Type.Union([Type.String({ examples: ['answered 500'] }), Type.Null()]),
  created_at: Timestamp,
  next_attempt_at: Timestamp,
  finished_at: Type.Union([Timestamp, Type.Null()]),
}, { $id: 'WebhookDelivery', title: 'WebhookDelivery', examples: [deliveryExample] })

export const WebhooksPageSchema = PageSchema(Type.Ref('Webhook'), 'Webhook', endpointExample as never)
export const DeliveriesPageSchema = PageSchema(Type.Ref('WebhookDelivery'), 'WebhookDelivery', deliveryExample as never)
export const PagingSchema = Type.Object(PagingQuerySchema, { additionalProperties: false })
