import cluster from 'node:cluster'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { AggregatorRegistry } from 'prom-client'
import { OverloadedError } from '../load-shedding.js'
import { createMetricsRegistry, type LoginOutcome, type MetricSources } from './registry.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Present when METRICS_PORT is set: the Prometheus text of this process (metrics-server.ts serves it). */
    metrics?: { render(): Promise<string>; contentType: string }
  }
  interface FastifyContextConfig {
    /** The route is a login: its answers count as login outcomes (200, 401, 403, 429). */
    loginAttempt?: boolean
  }
}

// Every request of a route that does not exist shares this label, so random URLs cannot add series.
export const UNMATCHED_ROUTE = 'unmatched'

const LOGIN_OUTCOMES: Partial<Record<number, LoginOutcome>> = { 200: 'success', 401: 'bad_credentials', 403: 'locked', 429: 'rate_limited' }

/**
 * Request metrics by method, route pattern (never the raw URL) and status class, plus in-flight requests,
 * login outcomes and the sources' figures. In a cluster worker the registry answers the primary's
 * AggregatorRegistry over IPC, which serves the sum.
 */
export const metricsPlugin = fp(async (app: FastifyInstance, sources: MetricSources) => {
  const metrics = createMetricsRegistry(sources)
  if (cluster.isWorker) {
    AggregatorRegistry.setRegistries(metrics.registry)
    // Constructing one installs the worker's IPC listener for the primary's requests.
    new AggregatorRegistry()
  }

  app.addHook('onRequest', (request, reply, done) => {
    // 'close' fires exactly once per response, whether it was answered or its client hung up first.
    // A client gone before this hook ran has had its 'close' already: counting it would never be undone.
    if (!reply.raw.destroyed) {
      metrics.requestStarted()
      reply.raw.once('close', metrics.requestEnded)
    }
    done()
  })
  app.addHook('onResponse', (request, reply, done) => {
    // Read once: Fastify builds a new routeOptions object on every access.
    const { url, config } = request.routeOptions
    metrics.requestAnswered(request.method, url ?? UNMATCHED_ROUTE, reply.statusCode, reply.elapsedTime / 1000)
    if (config.loginAttempt) {
      const outcome = LOGIN_OUTCOMES[reply.statusCode]
      if (outcome) metrics.loginAttempt(outcome)
    }
    done()
  })

  app.addHook('onError', (_request, _reply, error, done) => {
    if (error instanceof OverloadedError) metrics.requestShed(error.limit)
    done()
  })

  app.decorate('metrics', { render: () => metrics.registry.metrics(), contentType: metrics.registry.contentType })
}, { name: 'metrics' })
