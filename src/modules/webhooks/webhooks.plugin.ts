import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { logBackgroundFailure } from '../../db/outage.js'
import type { Resource } from '../../resources/define.js'
import { createEventShaper, readRoleOf } from '../events/events.shape.js'
import type { EventStats } from '../events/events.stats.js'
import { isAtLeast, isRole } from '../orgs/roles.js'
import { createWebhooksRepository } from './webhooks.repository.js'
import { createWebhookWorker, type WebhookWorker } from './webhooks.worker.js'

declare module 'fastify' {
  interface FastifyInstance {
    webhooks: { worker: WebhookWorker; fanOut(horizon: number): void }
  }
}

const DAY_MS = 86_400_000
/** Finished deliveries stay listed this long. */
const KEEP_DAYS = 7

/**
 * Turns events into deliveries (the events hub calls `fanOut` with each safe horizon) and sends them. Fan-out runs
 * one at a time per instance, and across instances one at a time through the cursor row's lock.
 */
export const webhooksPlugin = fp(async (app: FastifyInstance, options: { resources: readonly Resource[]; stats: EventStats }) => {
  const logger = app.log as Logger
  const byName = new Map(options.resources.map((r) => [r.name, r]))
  const repo = createWebhooksRepository(app.database.db)
  const unavailable = (err: unknown) => app.database.unavailable(err)
  const worker = createWebhookWorker({
    db: app.database.db, logger, onUnavailable: (err) => app.database.unavailable(err), config: app.config.events.webhooks, shape: createEventShaper(options.resources), stats: options.stats,
    orgMayReceive: (resource) => {
      const role = readRoleOf(byName.get(resource))
      return isRole(role) && isAtLeast('admin', role)
    },
  })
  let fanning: Promise<void> | undefined
  let wanted = 0
  const fanOut = (horizon: number) => {
    wanted = Math.max(wanted, horizon)
    if (fanning) return
    fanning = (async () => {
      for (let step = await repo.fanOut(wanted); ; step = await repo.fanOut(wanted)) {
        if (step.queued) worker.wake()
        if (!step.more) break
      }
    })().catch((err: unknown) => logBackgroundFailure(unavailable, logger, err, 'webhook fan-out failed: retrying with the next events'))
      .finally(() => { fanning = undefined })
  }
  app.decorate('webhooks', { worker, fanOut })
  let sweeper: NodeJS.Timeout | undefined
  app.addHook('onReady', async () => {
    worker.start()
    sweeper = setInterval(() => void repo.sweep(KEEP_DAYS)
      .catch((err: unknown) => logBackgroundFailure(unavailable, logger, err, 'webhook deliveries clean-up failed')), DAY_MS)
    sweeper.unref()
  })
  app.addHook('preClose', async () => {
    clearInterval(sweeper)
    await fanning
    await worker.stop()
  })
}, { name: 'webhooks' })
