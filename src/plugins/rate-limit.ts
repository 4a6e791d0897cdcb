import rateLimit from '@fastify/rate-limit'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { CounterStore } from '../shared/counter-store.js'
import { TooManyRequestsError } from '../shared/errors.js'

export interface RateLimitOptions {
  store: CounterStore
  perMinute: number
}

type StoreCallback = (err: Error | null, result?: { current: number; ttl: number }) => void

/** Adapts a CounterStore to @fastify/rate-limit's store contract. */
function storeClass(store: CounterStore, prefix = 'global:') {
  return class KeelRateLimitStore {
    incr(key: string, callback: StoreCallback, timeWindow: number, max: number): void {
      store.hit(prefix + key, timeWindow, max).then(
        (hit) => callback(null, { current: hit.count, ttl: hit.resetMs }),
        (err: Error) => callback(err),
      )
    }

    child(routeOptions: unknown) {
      const route = (routeOptions as { routeInfo?: { method?: string; url?: string } }).routeInfo
      const Child = storeClass(store, `${prefix}${route?.method ?? ''}${route?.url ?? ''}:`)
      return new Child()
    }
  }
}

/**
 * Global per-client limit (RATE_LIMIT_PER_MINUTE) with the IETF draft RateLimit-* headers and Retry-After.
 * It runs as a root onRequest hook, so it counts before authentication (401s are limited too) and covers 404s.
 */
export const rateLimitPlugin = fp(async (app: FastifyInstance, options: RateLimitOptions) => {
  await app.register(rateLimit, {
    global: false,
    enableDraftSpec: true,
    store: storeClass(options.store),
  })
  const limit = app.rateLimit({
    max: options.perMinute,
    timeWindow: 60_000,
    errorResponseBuilder: (_request, context) => new TooManyRequestsError(Math.ceil(context.ttl / 1000)),
  })
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.rateLimit === false) return
    await limit.call(app, request, reply)
  })
}, { name: 'rate-limit' })
