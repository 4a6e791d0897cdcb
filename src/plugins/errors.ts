import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { isDatabaseUnavailable, isTransientConflict, isUniqueViolation, sqlState } from '../db/errors.js'
import { SECURITY_HEADERS } from './security.js'
import { AppError, ConflictError, ServiceUnavailableError, ValidationError, type FieldError } from '../shared/errors.js'

interface AjvIssue {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
}

const LOCATIONS: Record<string, string> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' }

/** Turns Ajv issues into `{field, message}`: `body.name`, `query.limit`, `path.id`. */
export function toFieldErrors(issues: readonly AjvIssue[], context = 'body'): FieldError[] {
  const location = LOCATIONS[context] ?? context
  return issues.map((issue) => {
    const segments = issue.instancePath.split('/').filter(Boolean)
    const named = issue.params.missingProperty ?? issue.params.additionalProperty
    if (typeof named === 'string') segments.push(named)
    const message = issue.keyword === 'additionalProperties' ? 'unknown field' : issue.message ?? 'is invalid'
    return { field: [location, ...segments].join('.'), message }
  })
}

/** Maps anything thrown to the AppError that answers it. Unknown errors stay unknown (500). */
function normalise(err: FastifyError): AppError | undefined {
  if (err instanceof AppError) return err
  if (err.validation) return new ValidationError(toFieldErrors(err.validation as AjvIssue[], err.validationContext))
  if (isDatabaseUnavailable(err)) return new ServiceUnavailableError(undefined, err)
  if (isTransientConflict(err)) return new ServiceUnavailableError('A concurrent change got in the way, retry the request', err)
  if (isUniqueViolation(err)) return new ConflictError('The resource conflicts with an existing one')
  // Class 22 (data exception): a value PostgreSQL refuses, e.g. a NUL character in text.
  if (sqlState(err)?.startsWith('22')) {
    return new ValidationError([{ field: 'body', message: 'contains a value PostgreSQL cannot store (e.g. a NUL character)' }], 'A value was rejected by the database')
  }
  const status = err.statusCode ?? 500
  if (status >= 400 && status < 500) {
    const title = status === 413 ? 'Content Too Large' : status === 415 ? 'Unsupported Media Type' : status === 429 ? 'Too Many Requests' : 'Bad Request'
    return new AppError(status, title, err.message)
  }
  return undefined
}

/**
 * Fastify `frameworkErrors`: errors raised before routing (a malformed URL, a path parameter past
 * maxParamLength) skip hooks and handlers, so they get problem+json and the baseline headers here.
 */
export function frameworkErrorHandler(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const status = err.statusCode === 414 ? 414 : 400
  reply.headers(SECURITY_HEADERS).header('x-request-id', request.id)
  void sendProblem(reply, new AppError(status, status === 414 ? 'URI Too Long' : 'Bad Request', err.message))
}

function sendProblem(reply: FastifyReply, problem: AppError): FastifyReply {
  const body: Record<string, unknown> = { type: 'about:blank', title: problem.title, status: problem.status, detail: problem.detail }
  if (problem.errors) body.errors = problem.errors
  if (problem.code) body.code = problem.code
  return reply.code(problem.status).headers(problem.headers).type('application/problem+json').send(body)
}

/** The only error and not-found handlers: every failure leaves as application/problem+json. */
export const errorsPlugin = fp(async (app: FastifyInstance) => {
  app.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const problem = normalise(err)
    if (!problem) {
      request.log.error({ err }, 'unhandled error')
      return sendProblem(reply, new AppError(500, 'Internal Server Error', 'An unexpected error occurred'))
    }
    if (isDatabaseUnavailable(err)) {
      // One outage, two log lines (db/outage.ts), not a stack per request: a failover refuses thousands.
      request.server.database.refused(err)
      request.log.debug({ err }, problem.detail)
    // A draining instance refusing readiness is doing its job (SPEC §7), not failing.
    } else if (problem.status >= 500 && !request.server.draining) request.log.error({ err }, problem.detail)
    else if (problem.status !== 404 && problem.status !== 401) request.log.info({ status: problem.status, detail: problem.detail }, 'request rejected')
    return sendProblem(reply, problem)
  })

  app.setNotFoundHandler((request, reply) =>
    sendProblem(reply, new AppError(404, 'Not Found', `Route ${request.method} ${request.url.split('?')[0]} not found`)))
}, { name: 'errors' })
