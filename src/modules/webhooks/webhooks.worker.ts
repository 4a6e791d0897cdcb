import type { Logger } from 'pino'
import type { Db } from '../../db/client.js'
import { createOutboxLoop, retryDelaySeconds } from '../../shared/outbox-loop.js'
import type { EventsConfig } from '../events/events.config.js'
import type { EventShaper, StoredEvent } from '../events/events.shape.js'
import type { EventStats } from '../events/events.stats.js'
import { createWebhooksRepository, type ClaimedDelivery } from './webhooks.repository.js'
import { sendWebhook } from './webhooks.sender.js'
import { signatureOf } from './webhooks.sign.js'

export interface WebhookWorkerOptions {
  db: Db
  logger: Logger
  /** The database was unavailable (an outage, already logged once as such): `Database.unavailable`. */
  onUnavailable?(err: unknown): void
  config: EventsConfig['webhooks']
  shape: EventShaper
  /** Whether an org's endpoints (managed by admins) may receive events of this resource (its access.read). */
  orgMayReceive(resource: string): boolean
  stats: EventStats
  pollMs?: number
  batchSize?: number
}

/**
 * Sends what the delivery outbox holds, as the mail outbox worker does (same claim, lease and backoff): requests never
 * wait for a receiver. A batch is sent concurrently, so one receiver that hangs (up to WEBHOOK_TIMEOUT_SECONDS)
 * does not hold back the others'. At least once: the same `webhook-id` on every attempt lets receivers deduplicate.
 */
export function createWebhookWorker(options: WebhookWorkerOptions) {
  const { db, logger, config, shape, stats } = options
  const repo = createWebhooksRepository(db)
  const pollMs = options.pollMs ?? 5_000
  const batchSize = options.batchSize ?? 20
  // A lease longer than any attempt: a crashed worker's deliveries are taken again after it.
  const leaseSeconds = Math.ceil(config.timeoutMs / 1_000) + 60

  async function attempt(delivery: ClaimedDelivery): Promise<number | undefined> {
    const event = shape(delivery.payload as unknown as StoredEvent)
    const outcome = delivery.org_id !== null && !options.orgMayReceive(event.resource)
      ? { ok: false as const, error: `${event.resource} is not readable by org admins` }
      : await post(delivery, JSON.stringify(event))
    if (outcome.ok) {
      await repo.markDelivered(delivery, outcome.status)
      stats.webhooks.delivered++
      return undefined
    }
    const retry = delivery.attempts < config.maxAttempts ? retryDelaySeconds(config.retryBaseSeconds, delivery.attempts) : undefined
    const disabled = await repo.markFailed(delivery, outcome, retry, config.disableAfterFailures)
    stats.webhooks[retry === undefined ? 'failed' : 'retried']++
    if (disabled) stats.webhooks.disabled++
    logger.warn({ delivery_id: delivery.id, endpoint_id: delivery.endpoint_id, attempts: delivery.attempts, retry_in_s: retry, reason: outcome.error, disabled },
      retry === undefined ? 'webhook failed: giving up' : 'webhook failed: will retry')
    return retry === undefined ? undefined : retry * 1_000
  }

  const post = (delivery: ClaimedDelivery, body: string) => {
    const id = `msg_${delivery.id}`
    const timestamp = Math.floor(Date.now() / 1_000)
    const headers = { 'webhook-id': id, 'webhook-timestamp': String(timestamp), 'webhook-signature': signatureOf(delivery.secret, id, timestamp, body) }
    return sendWebhook(delivery.url, headers, body, { allowPrivate: config.allowPrivate, timeoutMs: config.timeoutMs })
  }

  // A batch is sent at once: one receiver that hangs holds back nobody else's deliveries.
  return createOutboxLoop({
    name: 'webhook outbox', logger, pollMs, batchSize, concurrent: true,
    onUnavailable: options.onUnavailable,
    claim: (limit) => repo.claim(limit, leaseSeconds),
    send: attempt,
  })
}

export type WebhookWorker = ReturnType<typeof createWebhookWorker>
