import { AsyncResource } from 'node:async_hooks'
import type { Logger } from 'pino'
import type { Db } from '../../db/client.js'
import { logBackgroundFailure } from '../../db/outage.js'
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

const MAX_RETRY_SECONDS = 3_600

/** Delay before attempt `attempts + 1`: exponential backoff from `base`, capped. */
export function retryDelaySeconds(base: number, attempts: number): number {
  return Math.min(MAX_RETRY_SECONDS, base * 2 ** (attempts - 1))
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
  let stopped = true
  let running: Promise<void> | undefined
  let again = false
  let timer: NodeJS.Timeout | undefined

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

  /** Sends batches until nothing is due (or the worker stops); returns the earliest retry it scheduled (ms), if any. */
  async function drain(untilEmpty = false): Promise<number | undefined> {
    let soonest: number | undefined
    for (;;) {
      const batch = await outbox.claim(batchSize, leaseSeconds)
      for (const message of batch) {
        const retryMs = await deliver(message)
        if (retryMs !== undefined) soonest = Math.min(soonest ?? retryMs, retryMs)
      }
      if (batch.length < batchSize || (stopped && !untilEmpty)) return soonest
    }
  }

  function schedule(ms: number) {
    clearTimeout(timer)
    if (stopped) return
    timer = setTimeout(wake, ms)
    timer.unref()
  }

  // Runs in the async context the worker was created in, not the one of the request that woke it: delivery is not
  // part of that request (its trace, when tracing is on, ended with the answer).
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
        logBackgroundFailure(options.onUnavailable ?? (() => undefined), logger, err, 'mail outbox unavailable: retrying later')
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
    /** Look at the outbox now (a message was just queued). */
    wake,
    /** Sends everything due now and resolves when done: for tests and tools; the running loop does the same. */
    async runOnce(): Promise<void> {
      await drain(true)
    },
    /** Stops polling and waits for the message being sent, so nothing is cut off mid-delivery. */
    async stop(): Promise<void> {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}

export type OutboxWorker = ReturnType<typeof createOutboxWorker>
