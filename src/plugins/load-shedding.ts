import underPressure from '@fastify/under-pressure'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { LoadSheddingLimits } from '../config.js'
import { AppError } from '../shared/errors.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** false: the route is answered even under pressure (liveness must stay cheap and truthful). */
    loadShedding?: boolean
  }
}

/** 503 for a request refused because this process is overloaded; the client should come back later. */
export class OverloadedError extends AppError {
  constructor(retryAfterSeconds: number, readonly limit: string) {
    super(503, 'Service Unavailable', 'The server is overloaded, retry shortly', { headers: { 'retry-after': String(retryAfterSeconds) } })
  }
}

// under-pressure's names of the checks → the `limit` label of keel_load_shed_total.
const LIMITS: Record<string, string> = { eventLoopDelay: 'event_loop_delay', heapUsedBytes: 'heap', rssBytes: 'rss' }

export interface LoadSheddingOptions extends LoadSheddingLimits {
  /** How often the event-loop delay and memory are sampled (under-pressure's default: 1 s). */
  sampleIntervalMs?: number
}

/**
 * Past a configured mean event-loop delay, heap or RSS, new requests are refused at once with 503
 * problem+json and Retry-After instead of queueing into timeouts (@fastify/under-pressure, sampled once a
 * second; 0 turns a check off). It runs as the first onRequest hook, before rate limits and authentication.
 */
export const loadSheddingPlugin = fp(async (app: FastifyInstance, options: LoadSheddingOptions) => {
  await app.register(underPressure, {
    maxEventLoopDelay: options.maxEventLoopDelayMs,
    maxHeapUsedBytes: options.maxHeapUsedBytes,
    maxRssBytes: options.maxRssBytes,
    ...(options.sampleIntervalMs ? { sampleInterval: options.sampleIntervalMs } : {}),
    // A rejected promise reaches the error handler (problem+json); undefined lets an exempt route through.
    pressureHandler: (request: FastifyRequest, _reply: unknown, type: string) => request.routeOptions.config.loadShedding === false
      ? undefined
      : Promise.reject(new OverloadedError(options.retryAfterSeconds, LIMITS[type] ?? 'other')),
  })
}, { name: 'load-shedding' })
