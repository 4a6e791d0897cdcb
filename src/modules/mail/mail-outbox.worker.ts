import type { Logger } from 'pino'
import type { Db } from '../../db/client.js'
import { createOutboxLoop, retryDelaySeconds } from '../../shared/outbox-loop.js'
import { createMailOutboxRepository, type ClaimedMessage } from './mail-outbox.repository.js'
import type { MailTransport } from './mail.transport.js'

export interface OutboxWorkerOptions {
  db: Db
  transport: MailTransport
  logger: Logger
  /** The database was unavailable (an outage, already logged once as such): `Database.unavailable`. */
  onUnavailable?(err: unknown): void
  from: string
  /** Host part of generated Message-IDs. */
  messageIdHost: string
  maxAttempts: number
  /** First retry after this long, doubling on each failure (capped at an hour). */
  retryBaseSeconds: number
  /** How long a claimed message stays leased to this worker before another may take it (a crashed worker). */
  leaseSeconds?: number
  /** Idle polling, for messages other processes queued and for retries. */
  pollMs?: number
  batchSize?: number
}

/**
 * Sends what the outbox holds, in this process. Requests only write outbox rows (in their transaction) and
 * `wake()` the worker, so a slow or failing SMTP server never slows or fails them. Several workers, in this
 * process or others, share the outbox safely: each message is claimed by one of them (see `claim`).
 * Delivery is at least once: a worker that crashes after the server accepted a message and before marking
 * it sent leaves it to be sent again once its lease expires (the Message-ID stays the same).
 */
export function createOutboxWorker(options: OutboxWorkerOptions) {
  const { db, transport, logger, maxAttempts, retryBaseSeconds } = options
  const leaseSeconds = options.leaseSeconds ?? 300
  const pollMs = options.pollMs ?? 5_000
  const batchSize = options.batchSize ?? 10
  const outbox = createMailOutboxRepository(db)

  const describe = (error: unknown) => (error instanceof Error ? error.message : String(error)).slice(0, 1_000)

  async function deliver(message: ClaimedMessage): Promise<number | undefined> {
    try {
      await transport.send({
        outboxId: message.id,
        messageId: `<outbox-${message.id}.${message.created_at.getTime()}@${options.messageIdHost}>`,
        from: options.from,
        to: message.recipient,
        subject: message.subject,
        text: message.text_body ?? '',
        html: message.html_body ?? '',
      })
    } catch (error) {
      const reason = describe(error)
      if (message.attempts >= maxAttempts) {
        await outbox.markDead(message.id, reason)
        logger.error({ outbox_id: message.id, to: message.recipient, attempts: message.attempts, reason }, 'mail dead: giving up')
        return undefined
      }
      const delay = retryDelaySeconds(retryBaseSeconds, message.attempts)
      await outbox.scheduleRetry(message.id, reason, delay)
      logger.warn({ outbox_id: message.id, to: message.recipient, attempts: message.attempts, retry_in_s: delay, reason }, 'mail failed: will retry')
      return delay * 1000
    }
    await outbox.markSent(message.id)
    return undefined
  }

  return createOutboxLoop({
    name: 'mail outbox', logger, pollMs, batchSize,
    onUnavailable: options.onUnavailable,
    claim: (limit) => outbox.claim(limit, leaseSeconds),
    send: deliver,
  })
}

export type OutboxWorker = ReturnType<typeof createOutboxWorker>
