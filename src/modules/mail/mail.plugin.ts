import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { HOUR_MS, repeatWhileUp } from '../../shared/periodic.js'
import { createMailOutboxRepository } from './mail-outbox.repository.js'
import { createOutboxWorker, type OutboxWorker } from './mail-outbox.worker.js'
import { createMailTransport } from './mail.transport.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Sends the mail outbox; `wake()` it after committing a transaction that queued messages. */
    mailOutbox: OutboxWorker
  }
}

/** Sent and dead messages stay this long as a record (recipient, subject, attempts, error; never the body). */
const KEEP_FINISHED_DAYS = 30

/**
 * The outbox worker lives as long as the app: started when it is ready, stopped (after its current send) on close.
 * An hourly sweep drops old finished messages.
 */
export const mailPlugin = fp(async (app: FastifyInstance) => {
  const mail = app.config.mail
  const logger = app.log as Logger
  const transport = createMailTransport(mail.delivery, logger)
  const worker = createOutboxWorker({
    db: app.database.db,
    transport,
    logger,
    onUnavailable: (err) => app.database.unavailable(err),
    from: mail.from,
    messageIdHost: new URL(mail.appUrl).hostname,
    maxAttempts: mail.maxAttempts,
    retryBaseSeconds: mail.retryBaseSeconds,
  })
  app.decorate('mailOutbox', worker)
  const outbox = createMailOutboxRepository(app.database.db)
  app.addHook('onReady', async () => worker.start())
  repeatWhileUp(app, 'mail outbox clean-up', HOUR_MS, () => outbox.sweepFinished(KEEP_FINISHED_DAYS))
  app.addHook('onClose', async () => {
    await worker.stop()
    transport.close()
  })
}, { name: 'mail' })
