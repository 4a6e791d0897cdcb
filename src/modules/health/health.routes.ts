import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ServiceUnavailableError } from '../../shared/errors.js'
import { problemResponses } from '../../shared/schemas.js'

const StatusSchema = Type.Object({ status: Type.String({ examples: ['ok'] }) }, { description: 'Healthy', examples: [{ status: 'ok' }] })

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
      description: 'The database answers; 503 otherwise, so a load balancer sends traffic elsewhere. Never rate limited.',
      response: { 200: StatusSchema, ...problemResponses(503) },
    },
  }, async () => {
    try {
      await app.database.ping()
    } catch (err) {
      throw new ServiceUnavailableError('The database does not answer', err)
    }
    return { status: 'ok' }
  })
}
