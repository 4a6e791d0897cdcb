import { AsyncResource } from 'node:async_hooks'
import type { Logger } from 'pino'
import type { EventsConfig } from '../events/events.config.js'
import type { EventShaper, StoredEvent } from '../events/events.shape.js'
import type { EventStats } from '../events/events.stats.js'
import { retryDelaySeconds } from '../mail/mail-outbox.worker.js'
import { createWebhooksRepository, type ClaimedDelivery } from './webhooks.repository.js'
import { sendWebhook } from './webhooks.sender.js'
import { signatureOf } from './webhooks.sign.js'
import type { Db } from '../../db/client.js'
import { logBackgroundFailure } from '../../db/outage.js'

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
  let stopped = true
  let running: Promise<void> | undefined
  let again = false
  let timer: NodeJS.Timeout | undefined

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

  /** Sends batches until nothing is due; returns the earliest retry it scheduled (ms), if any. */
  async function drain(): Promise<number | undefined> {
    let soonest: number | undefined
    for (;;) {
      const batch = await repo.claim(batchSize, leaseSeconds)
      for (const retryMs of await Promise.all(batch.map(attempt))) {
        if (retryMs !== undefined) soonest = Math.min(soonest ?? retryMs, retryMs)
      }
      if (batch.length < batchSize || stopped) return soonest
    }
  }

  function schedule(ms: number) {
    clearTimeout(timer)
    if (stopped) return
    timer = setTimeout(wake, ms)
    timer.unref()
  }

  // In the worker's own async context, not the one of whatever woke it (see the mail outbox worker).
  const wake = AsyncResource.bind(function wake(): void {
    if (stopped) return
    if (running) {
      again = true
      return
    }
    clearTimeout(timer)
    running = drain().then(
      (retryMs) => Math.min(pollMs, retryMs ?? pollMs),
      (err: unknown) => {
        logBackgroundFailure(options.onUnavailable ?? (() => undefined), logger, err, 'webhook outbox unavailable: retrying later')
        return pollMs
      },
    ).then((nextMs) => {
      running = undefined
      if (again) {
        again = false
        wake()
      } else {
        schedule(nextMs)
      }
    })
  })

  return {
    start(): void {
      stopped = false
      wake()
    },
    wake,
    /** Stops polling and waits for the attempts in progress. */
    async stop(): Promise<void> {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}

export type WebhookWorker = ReturnType<typeof createWebhookWorker>
