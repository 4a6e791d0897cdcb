import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** True from the shutdown signal on (SPEC §7): /readyz answers 503 and every response closes its connection. */
    readonly draining: boolean
    beginDrain(): void
  }
}

/**
 * The drain of a rolling restart: the load balancer sees /readyz fail and stops sending new connections, and
 * `Connection: close` on every answer (those in flight at the signal included) moves kept-alive clients to
 * another instance, each after an answer, never in the middle of a request. server.ts decides when to close.
 */
export const drainPlugin = fp(async (app: FastifyInstance) => {
  let draining = false
  app.decorate('draining', { getter: () => draining })
  app.decorate('beginDrain', () => { draining = true })
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close')
    done(null, payload)
  })
}, { name: 'drain' })
