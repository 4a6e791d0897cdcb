import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { logBackgroundFailure } from '../../db/outage.js'
import type { Resource } from '../../resources/define.js'
import { HOUR_MS, repeatWhileUp } from '../../shared/periodic.js'
import { createEventShaper, readRoleOf } from '../events/events.shape.js'
import type { EventStats } from '../events/events.stats.js'
import { isAtLeast, isRole } from '../orgs/roles.js'
import { createWebhooksRepository } from './webhooks.repository.js'
import { createWebhookWorker, type WebhookWorker } from './webhooks.worker.js'

declare module 'fastify' {
  interface FastifyInstance {
    webhooks: {
      worker: WebhookWorker
      /** Turns the events up to `horizon` into deliveries (the events hub calls it with each safe horizon). */
      fanOut(horizon: number): void
      /** Deletes finished deliveries older than a week (it runs daily). */
      sweep(): Promise<number>
    }
  }
}

const FANOUT_INTERVAL_MS = 100
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
  let throttle: NodeJS.Timeout | undefined
  let lastStart = 0
  let wanted = 0
  // The hub announces each new horizon, every few ms under load: fanning out that often would cost each write a
  // share of a transaction for nothing (bench/events-cost.ts). At most one pass per interval; a backlog is worked
  // through at once, and a horizon announced during a pass is taken by the next one.
  const fanOut = (horizon: number) => {
    wanted = Math.max(wanted, horizon)
    if (fanning || throttle) return
    const wait = lastStart + FANOUT_INTERVAL_MS - Date.now()
    if (wait > 0) {
      throttle = setTimeout(() => {
        throttle = undefined
        fanOut(wanted)
      }, wait)
      throttle.unref()
      return
    }
    lastStart = Date.now()
    const target = wanted
    fanning = (async () => {
      for (let step = await repo.fanOut(target); ; step = await repo.fanOut(target)) {
        if (step.queued) worker.wake()
        if (!step.more) break
      }
    })().catch((err: unknown) => logBackgroundFailure(unavailable, logger, err, 'webhook fan-out failed: retrying with the next events'))
      .finally(() => {
        fanning = undefined
        if (wanted > target) fanOut(wanted)
      })
  }
  const sweep = () => repo.sweep(KEEP_DAYS)
  app.decorate('webhooks', { worker, fanOut, sweep })
  app.addHook('onReady', async () => worker.start())
  repeatWhileUp(app, 'webhook deliveries clean-up', 24 * HOUR_MS, sweep)
  app.addHook('preClose', async () => {
    clearTimeout(throttle)
    await fanning
    await worker.stop()
  })
}, { name: 'webhooks' })
