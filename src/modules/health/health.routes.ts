import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ServiceUnavailableError } from '../../shared/errors.js'
import { problemResponses } from '../../shared/schemas.js'

const StatusSchema = Type.Object({ status: Type.String({ examples: ['ok'] }) }, { description: 'Healthy', examples: [{ status: 'ok' }] })

const ReadinessSchema = Type.Object({
  status: Type.String({ examples: ['ok'] }),
  user_cache: Type.Union([Type.Literal('active'), Type.Literal('bypassed')], {
    description: 'bypassed while user-change notifications are not known to arrive: every request reads its user from the database',
  }),
  listen: Type.Union([Type.Literal('listening'), Type.Literal('connecting'), Type.Literal('silent')], {
    description: 'the LISTEN connection (DATABASE_LISTEN_URL): silent means LISTEN succeeded but a probe NOTIFY never arrived (a transaction pooler)',
  }),
}, { description: 'Ready', examples: [{ status: 'ok', user_cache: 'active', listen: 'listening' }] })

/** Liveness and readiness for load balancers; never rate limited, never authenticated. */
export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const common = { tags: ['operations'], security: [] }
  app.get('/healthz', {
    // Never shed: an overloaded process is still alive, and a failing liveness probe would get it killed.
    config: { rateLimit: false, loadShedding: false },
    schema: {
      ...common, operationId: 'getLiveness', summary: 'Liveness',
      description: 'The process is alive; the database is not asked. Never rate limited.', response: { 200: StatusSchema },
    },
  }, async () => ({ status: 'ok' }))

  app.get('/readyz', {
    config: { rateLimit: false },
    schema: {
      ...common,
      operationId: 'getReadiness',
      summary: 'Readiness',
      description: 'The database answers and the process is not shutting down; 503 otherwise, so a load balancer sends traffic elsewhere. Never rate limited.',
      response: { 200: ReadinessSchema, ...problemResponses(503) },
    },
  }, async () => {
    if (app.draining) throw new ServiceUnavailableError('This instance is shutting down')
    try {
      await app.database.ping()
    } catch (err) {
      throw new ServiceUnavailableError('The database does not answer', err)
    }
    // A bypassed cache costs a query per request, not correctness: still ready, but the body says so.
    const { userCache, listen } = app.userCache.status()
    return { status: 'ok', user_cache: userCache, listen }
  })
}
