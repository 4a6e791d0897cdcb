import cors from '@fastify/cors'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

export interface SecurityOptions {
  corsOrigins: readonly string[]
}

/**
 * The headers helmet's defaults would send, with frames denied and no referrer, fixed once at start.
 * helmet rebuilt them on every request: about 19 % of the CPU of a /healthz answer in the benchmark
 * (docs/benchmark.md). The CSP still lets the self-hosted /docs page run (self scripts, inline styles).
 */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'content-security-policy': "default-src 'self';base-uri 'self';font-src 'self' https: data:;form-action 'self';"
    + "frame-ancestors 'none';img-src 'self' data:;object-src 'none';script-src 'self';script-src-attr 'none';"
    + "style-src 'self' 'unsafe-inline'",
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'origin-agent-cluster': '?1',
  'referrer-policy': 'no-referrer',
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-content-type-options': 'nosniff',
  'x-dns-prefetch-control': 'off',
  'x-download-options': 'noopen',
  'x-frame-options': 'DENY',
  'x-permitted-cross-domain-policies': 'none',
  'x-xss-protection': '0',
})

/** Every answer carries the request id and the security headers; CORS only for the configured origins. */
export const securityPlugin = fp(async (app: FastifyInstance, options: SecurityOptions) => {
  app.addHook('onRequest', async (request, reply) => {
    reply.headers(SECURITY_HEADERS)
    reply.header('x-request-id', request.id)
  })
  await app.register(cors, {
    // An empty list means no cross-origin access at all (the SPEC's default).
    origin: options.corsOrigins.length ? [...options.corsOrigins] : false,
    credentials: false,
    exposedHeaders: ['x-request-id', 'location', 'retry-after', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'],
  })
}, { name: 'security' })
