import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ServiceUnavailableError } from '../../shared/errors.js'
import { problemResponses } from '../../shared/schemas.js'

const StatusSchema = Type.Object({ status: Type.String({ examples: ['ok'] }) })

/** Liveness and readiness for load balancers; never rate limited, never authenticated. */
export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const common = { tags: ['operations'], security: [] }
  app.get('/healthz', {
    config: { rateLimit: false },
    schema: { ...common, summary: 'Liveness', description: 'The process is alive.', response: { 200: StatusSchema } },
  }, async () => ({ status: 'ok' }))

  app.get('/readyz', {
    config: { rateLimit: false },
    schema: {
      ...common,
      summary: 'Readiness',
      description: 'The database answers; 503 otherwise.',
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
