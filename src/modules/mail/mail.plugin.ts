import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { createOutboxWorker, type OutboxWorker } from './mail-outbox.worker.js'
import { createMailTransport } from './mail.transport.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Sends the mail outbox; `wake()` it after committing a transaction that queued messages. */
    mailOutbox: OutboxWorker
  }
}

/** The outbox worker lives as long as the app: started when it is ready, stopped (after its current send) on close. */
export const mailPlugin = fp(async (app: FastifyInstance) => {
  const mail = app.config.mail
  const logger = app.log as Logger
  const transport = createMailTransport(mail.delivery, logger)
  const worker = createOutboxWorker({
    db: app.database.db,
    transport,
    logger,
    from: mail.from,
    messageIdHost: new URL(mail.appUrl).hostname,
    maxAttempts: mail.maxAttempts,
    retryBaseSeconds: mail.retryBaseSeconds,
  })
  app.decorate('mailOutbox', worker)
  app.addHook('onReady', async () => worker.start())
  app.addHook('onClose', async () => {
    await worker.stop()
    transport.close()
  })
}, { name: 'mail' })
