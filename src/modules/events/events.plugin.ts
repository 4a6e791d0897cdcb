import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Logger } from 'pino'
import { logBackgroundFailure } from '../../db/outage.js'
import type { Resource } from '../../resources/define.js'
import { HOUR_MS, repeatWhileUp } from '../../shared/periodic.js'
import { createEventHub, type EventHub } from './events.hub.js'
import { createEventShaper, readRoleOf } from './events.shape.js'
import type { EventStats } from './events.stats.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** This instance's event streams (SSE); see modules/events/events.hub.ts. */
    events: EventHub
  }
}

export interface EventsPluginOptions {
  resources: readonly Resource[]
  /** Figures for /metrics. */
  stats: EventStats
  onHorizon?(horizon: number): void
}

const HEARTBEAT_MS = 15_000
const START_RETRY_MS = 1_000

/**
 * The hub lives as long as the app: it starts reading the log when the app is ready, and ends every stream before
 * the server closes (preClose), so a drain waits for no stream and clients resume elsewhere with Last-Event-ID.
 * An hourly sweep drops events past EVENT_RETENTION_HOURS and expired tickets.
 */
export const eventsPlugin = fp(async (app: FastifyInstance, options: EventsPluginOptions) => {
  const logger = app.log as Logger
  const byName = new Map(options.resources.map((r) => [r.name, r]))
  const hub = createEventHub({
    database: app.database,
    logger,
    shape: createEventShaper(options.resources),
    readRole: (resource) => readRoleOf(byName.get(resource)),
    heartbeatMs: HEARTBEAT_MS,
    retentionHours: app.config.events.retentionHours,
    stats: options.stats,
    onHorizon: options.onHorizon,
  })
  app.decorate('events', hub)
  let retry: NodeJS.Timeout | undefined
  // An instance that starts while the database is away (a failover) serves everything else and keeps trying: its
  // streams answer 503 until it knows where the log ends.
  const start = async (): Promise<void> => {
    try {
      await hub.start()
    } catch (err) {
      logBackgroundFailure((e) => app.database.unavailable(e), logger, err, 'event streams cannot start yet (the event log is unreachable): retrying')
      retry = setTimeout(() => void start(), START_RETRY_MS)
      retry.unref()
    }
  }
  app.addHook('onReady', async () => {
    await start()
  })
  repeatWhileUp(app, 'event log clean-up', HOUR_MS, () => hub.sweep())
  app.addHook('preClose', async () => {
    clearTimeout(retry)
    await hub.stop()
  })
}, { name: 'events' })
