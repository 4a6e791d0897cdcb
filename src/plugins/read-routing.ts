import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { CommitPositions } from '../db/commit-positions.js'
import { requestDbContext, type RequestDbContext } from '../db/request-context.js'

export interface ReadRoutingOptions {
  /** With a replica and READ_YOUR_WRITES on: each caller's last commit position; otherwise reads take any replica. */
  positions?: CommitPositions | undefined
}

/**
 * With a replica, gives every request the context the database router reads (db/request-context.ts). GETs and HEADs are reads:
 * retried once on a connection failure, and, once authentication has read the user on the primary, sent to the
 * replica unless it has not replayed the caller's last commit. After any other request that succeeded and used
 * the primary, the caller's commit position is recorded before the answer leaves, so its next read, on any
 * instance, waits for it.
 */
export const readRoutingPlugin = fp(async (app: FastifyInstance, options: ReadRoutingOptions) => {
  const { positions } = options
  const database = app.database
  // Without a replica there is nothing to route: the router retries a failed SELECT by its text, and no request
  // context is set. That matters for speed: on Node 20 the first AsyncLocalStorage.run() turns on the promise hooks
  // for the whole process, which cost item GET 14 % and item POST 10 % of Keel's CPU (docs/benchmark.md).
  if (!database.hasReplica) return
  app.addHook('onRequest', (request, _reply, done) => {
    const read = request.method === 'GET' || request.method === 'HEAD'
    const context: RequestDbContext = { retry: read, replica: false, minLsn: 0, usedPrimary: false }
    // done() inside run(): every later hook and the handler continue in this context.
    requestDbContext.run(context, done)
  })
  app.addHook('preHandler', async (request) => {
    const context = requestDbContext.getStore()
    if (!context?.retry) return
    context.minLsn = positions && request.user ? await positions.get(String(request.user.id)) : 0
    context.replica = true
  })
  if (!positions) return
  app.addHook('onSend', async (request, reply) => {
    const context = requestDbContext.getStore()
    if (!context || context.retry || !context.usedPrimary || !request.user || reply.statusCode >= 400) return
    const caller = String(request.user.id)
    // The primary answering now has at least this request's commit; if it cannot tell (it just died), the caller's
    // reads go to the primary until the position expires, rather than risk a replica that never got the write.
    const position = await database.commitPosition!().catch(() => Number.MAX_SAFE_INTEGER)
    await positions.raise(caller, position)
  })
}, { name: 'read-routing', dependencies: [] })
