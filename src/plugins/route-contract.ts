import type { FastifyInstance, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { BadRequestError, UnsupportedMediaTypeError } from '../shared/errors.js'
import { problemResponses } from '../shared/schemas.js'
import { announcesBody } from './connection-close.js'

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Media types the route's body may have (set from its schema at registration); empty: it takes no body. */
    bodyMediaTypes?: readonly string[]
  }
}

/** The errors a route can answer by its class alone, whatever its handler does. */
function classErrors(route: { method: string | string[]; url: string; schema?: { body?: unknown; params?: unknown; querystring?: unknown }; config?: { rateLimit?: unknown } }): number[] {
  // 400: a malformed URL, or a body where none is taken. Health probes are never rate limited or shed.
  const statuses = [400]
  if (route.config?.rateLimit !== false) statuses.push(429, 503)
  if (route.schema?.body) statuses.push(413, 415, 422)
  if (route.schema?.params) statuses.push(414, 422)
  if (route.schema?.querystring) statuses.push(422)
  return statuses
}

/** Adds problem+json answers to a documented route's responses; the route's own entries for those statuses win. */
export function declareProblems(route: { schema?: { hide?: boolean; response?: unknown } }, statuses: number[]): void {
  if (!route.schema || route.schema.hide) return
  route.schema.response = { ...problemResponses(...statuses), ...(route.schema.response as object | undefined) }
}

function acceptedMediaTypes(body: unknown): string[] {
  if (!body) return []
  const content = (body as { content?: Record<string, unknown> }).content
  return content ? Object.keys(content) : ['application/json']
}

/**
 * One place that makes the OpenAPI document complete by construction and the server keep to it (SPEC §2):
 * every route's documented answers gain the errors of its class (the route's own entries win), and a request
 * body is refused before it is read unless the route's schema takes that media type: 415 for another type
 * (a form post is also the one cross-site request a browser sends without a preflight), 400 for a body sent to
 * a route that takes none. The auth plugin adds 401 the same way.
 */
export const routeContractPlugin = fp(async (app: FastifyInstance) => {
  app.addHook('onRoute', (route) => {
    route.config = { ...route.config, bodyMediaTypes: acceptedMediaTypes(route.schema?.body) }
    declareProblems(route, classErrors(route))
  })

  const checkBody: onRequestHookHandler = (request, _reply, done) => {
    const accepted = request.routeOptions.config.bodyMediaTypes
    if (accepted === undefined || !announcesBody(request.headers)) return done()
    if (accepted.length === 0) return done(new BadRequestError(`${request.method} ${request.routeOptions.url} takes no request body`))
    const mediaType = request.headers['content-type']?.split(';', 1)[0]!.trim().toLowerCase()
    if (mediaType === undefined || !accepted.includes(mediaType)) return done(new UnsupportedMediaTypeError(accepted))
    done()
  }
  app.addHook('onRequest', checkBody)
}, { name: 'route-contract' })
