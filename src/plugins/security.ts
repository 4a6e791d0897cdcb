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

/** Everything the API answers to (the plugin's default, GET,HEAD,POST, left a browser unable to edit or delete). */
export const CORS_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
/** Request headers a front end sends: the token, JSON, retries of creates, conditional requests, SSE resumption. */
export const CORS_ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key', 'If-Match', 'If-None-Match', 'Last-Event-ID']
/** Answer headers a front end's script may read (a browser hides all but a few unless listed). */
export const CORS_EXPOSED_HEADERS = [
  'Location', 'ETag', 'Link', 'Retry-After', 'X-Request-Id', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset', 'Idempotent-Replayed',
]

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
    methods: CORS_METHODS,
    allowedHeaders: CORS_ALLOWED_HEADERS,
    exposedHeaders: CORS_EXPOSED_HEADERS,
    // A browser may reuse a preflight for 10 minutes instead of sending one before every edit.
    maxAge: 600,
  })
}, { name: 'security' })
