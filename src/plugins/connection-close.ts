import type { Socket } from 'node:net'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

declare module 'fastify' {
  interface FastifyInstance {
    /** True from the shutdown signal on (SPEC §7): /readyz answers 503 and every response closes its connection. */
    readonly draining: boolean
    beginDrain(): void
  }
}

/** Lingering close bounds (RFC 9112 §9.6), like nginx's lingering_time / lingering_timeout. */
const LINGER_MS = 10_000
const LINGER_IDLE_MS = 2_000
const LINGER_BYTES = 64 * 1_048_576

/**
 * Connections Keel closes after an answer.
 *
 * Draining (server.ts on SIGTERM): the load balancer sees /readyz fail and stops sending new connections, and
 * `Connection: close` on every answer (those in flight at the signal included) moves kept-alive clients to
 * another instance, each after an answer, never in the middle of a request.
 *
 * An answer sent before the request body was read (413, 415, 401, a body where none is taken): the client may
 * still be sending, and most clients read only once they have sent everything. Node destroys such a socket as
 * soon as the answer is flushed, and the unread bytes make the kernel reset the connection, so the client gets
 * a broken pipe instead of the answer. Instead: half-close after the answer, keep reading and discarding (never
 * buffering) until the client closes, for at most LINGER_MS, LINGER_IDLE_MS without data, or LINGER_BYTES.
 */
export const connectionClosePlugin = fp(async (app: FastifyInstance) => {
  let draining = false
  app.decorate('draining', { getter: () => draining })
  app.decorate('beginDrain', () => { draining = true })
  app.addHook('onSend', (request, reply, payload, done) => {
    if (!request.raw.complete && announcesBody(request.headers)) {
      reply.header('connection', 'close')
      lingerOnClose(request.raw.socket, request.raw)
    } else if (draining) {
      reply.header('connection', 'close')
    }
    done(null, payload)
  })
}, { name: 'connection-close' })

/** Whether the request announces a body (a length above zero, or chunked), read or not. */
export const announcesBody = (headers: Record<string, string | string[] | undefined>) =>
  headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0')

const lingering = new WeakSet<Socket>()

function lingerOnClose(socket: Socket, body: NodeJS.ReadableStream): void {
  if (lingering.has(socket)) return
  lingering.add(socket)
  let discarded = 0
  let idle: NodeJS.Timeout | undefined
  const stop = () => socket.destroy()
  body.on('data', (chunk: Buffer) => {
    discarded += chunk.length
    if (discarded > LINGER_BYTES) return stop()
    idle?.refresh()
  })
  body.resume()
  // Node calls this once the answer is written to a `Connection: close` socket (http server's resOnFinish).
  socket.destroySoon = function (this: Socket) {
    this.end()
    const total = setTimeout(stop, LINGER_MS).unref()
    idle = setTimeout(stop, LINGER_IDLE_MS).unref()
    this.once('close', () => {
      clearTimeout(total)
      clearTimeout(idle)
    })
  }
}
