import cors from '@fastify/cors'
import helmet from '@fastify/helmet'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

export interface SecurityOptions {
  corsOrigins: readonly string[]
}

/**
 * Response headers every answer carries: the request id, helmet's security headers (frames denied,
 * no referrer, nosniff, a CSP that still lets the self-hosted /docs page run) and CORS for the configured origins.
 */
export const securityPlugin = fp(async (app: FastifyInstance, options: SecurityOptions) => {
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id)
  })
  await app.register(helmet, {
    frameguard: { action: 'deny' },
    referrerPolicy: { policy: 'no-referrer' },
    contentSecurityPolicy: {
      directives: {
        defaultSrc: ["'self'"],
        scriptSrc: ["'self'"],
        styleSrc: ["'self'", "'unsafe-inline'"],
        imgSrc: ["'self'", 'data:'],
        frameAncestors: ["'none'"],
        formAction: ["'self'"],
        // Keel is often served over plain http (localhost, behind a TLS-terminating proxy): never rewrite to https.
        upgradeInsecureRequests: null,
      },
    },
  })
  await app.register(cors, {
    // An empty list means no cross-origin access at all (the SPEC's default).
    origin: options.corsOrigins.length ? [...options.corsOrigins] : false,
    credentials: false,
    exposedHeaders: ['x-request-id', 'location', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
  })
}, { name: 'security' })
