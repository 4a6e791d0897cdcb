import type { FastifyInstance, RouteHandlerMethod } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** Resolves once no route handler is running (or after `timeoutMs`); see server.ts shutdown. */
    waitForHandlers(timeoutMs: number): Promise<void>
  }
}

/**
 * Counts running route handlers. `app.close()` waits for open connections only: a handler whose client
 * hung up keeps running (a login in bcrypt, say), and closing the pool under it would fail its write.
 */
export const inFlightPlugin = fp(async (app: FastifyInstance) => {
  let running = 0
  let idle: (() => void)[] = []
  app.addHook('onRoute', (route) => {
    const handler = route.handler as (...args: Parameters<RouteHandlerMethod>) => unknown
    route.handler = async function (this: FastifyInstance, request, reply) {
      running++
      try {
        return await handler.call(this, request, reply)
      } finally {
        if (--running === 0) {
          for (const resolve of idle) resolve()
          idle = []
        }
      }
    }
  })
  app.decorate('waitForHandlers', (timeoutMs: number) => {
    if (running === 0) return Promise.resolve()
    return new Promise<void>((resolve) => {
      idle.push(resolve)
      setTimeout(resolve, timeoutMs).unref()
    })
  })
}, { name: 'in-flight' })
