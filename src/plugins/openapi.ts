import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { problemExample } from '../shared/schemas.js'

const PROBLEM_JSON = 'application/problem+json'

/** Response headers the API sets, declared once under components.headers and referenced by name. */
const HEADERS = {
  'X-Request-Id': {
    description: 'The request id: the client\'s own when it is 1–128 characters of `[A-Za-z0-9._:-]`, otherwise a generated one',
    schema: { type: 'string', minLength: 1, maxLength: 128 },
  },
  'WWW-Authenticate': { description: 'The Bearer challenge (RFC 6750)', schema: { type: 'string', examples: ['Bearer'] } },
  'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 1, examples: [5] } },
  'RateLimit-Limit': { description: 'Requests allowed in the window (IETF draft RateLimit headers)', schema: { type: 'integer', examples: [600] } },
  'RateLimit-Remaining': { description: 'Requests left in the window', schema: { type: 'integer', examples: [0] } },
  'RateLimit-Reset': { description: 'Seconds until the window resets', schema: { type: 'integer', examples: [42] } },
} as const

type HeaderName = keyof typeof HEADERS

/** Headers an error answer carries, by status (plugins/errors.ts and shared/errors.ts set them). */
const ERROR_HEADERS: Record<string, HeaderName[]> = {
  401: ['WWW-Authenticate'],
  429: ['Retry-After', 'RateLimit-Limit', 'RateLimit-Remaining', 'RateLimit-Reset'],
  503: ['Retry-After'],
}

const componentName = (header: HeaderName) => header.replaceAll('-', '')

// Operations of a path in the conventional order (read before write), whatever order the routes were registered in.
const METHOD_ORDER = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options', 'trace']
const byMethod = ([a]: [string, unknown], [b]: [string, unknown]) => METHOD_ORDER.indexOf(a) - METHOD_ORDER.indexOf(b)

interface MediaTypeObject {
  schema?: { $ref?: string; examples?: unknown[] }
  example?: unknown
  examples?: unknown
}

interface ResponseObject {
  content?: Record<string, MediaTypeObject>
  headers?: Record<string, unknown>
}

interface ParameterObject {
  required?: boolean
  schema?: { default?: unknown }
}

interface OperationObject {
  parameters?: ParameterObject[]
  responses?: Record<string, ResponseObject>
}

type Document = Record<string, unknown> & {
  paths?: Record<string, Record<string, OperationObject>>
  components?: Record<string, unknown> & { schemas?: Record<string, { examples?: unknown[] }> }
}

/**
 * Completes the generated document with what the route schemas cannot say:
 * - a query parameter with a default is optional for the client (TypeBox lists it as required because
 *   validation always fills it in);
 * - route schemas declare errors as the Problem schema alone (a per-media-type response schema would change
 *   how Fastify serialises them), so each error is stated as what plugins/errors.ts really sends:
 *   application/problem+json with a typical example and the headers its status carries;
 * - X-Request-Id on every answer, and a shared schema's own example ($ref: User, Item) on the responses using it.
 */
function completeDocument(document: Document): Document {
  const schemas = document.components?.schemas ?? {}
  const sharedExample = (media: MediaTypeObject) =>
    schemas[media.schema?.$ref?.replace('#/components/schemas/', '') ?? '']?.examples?.[0] ?? media.schema?.examples?.[0]

  const paths = document.paths ?? {}
  for (const [path, operations] of Object.entries(paths)) {
    paths[path] = Object.fromEntries(Object.entries(operations).sort(byMethod))
    for (const operation of Object.values(operations)) {
      for (const parameter of operation.parameters ?? []) {
        if (parameter.schema?.default !== undefined) parameter.required = false
      }
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        const names: HeaderName[] = ['X-Request-Id', ...(ERROR_HEADERS[status] ?? [])]
        const refs = Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${componentName(name)}` }]))
        response.headers = { ...refs, ...response.headers }
        if (!response.content) continue
        if (Number(status) >= 400) {
          const media = Object.values(response.content)[0]
          response.content = { [PROBLEM_JSON]: { ...media, example: media?.example ?? problemExample(Number(status)) } }
          continue
        }
        for (const media of Object.values(response.content)) {
          if (media.example === undefined && media.examples === undefined) media.example = sharedExample(media)
        }
      }
    }
  }
  const headers = Object.fromEntries(Object.entries(HEADERS).map(([name, header]) => [componentName(name as HeaderName), header]))
  return { ...document, tags: withResourceTags(document), components: { ...document.components, headers } }
}

/** The declared tags, plus one per generated resource (its routes are tagged with its name). */
function withResourceTags(document: Document): { name: string; description: string }[] {
  const tags = (document.tags ?? []) as { name: string; description: string }[]
  const used = Object.values(document.paths ?? {}).flatMap((item) => Object.values(item).flatMap((operation) => (operation as { tags?: string[] }).tags ?? []))
  const missing = [...new Set(used)].filter((name) => !tags.some((tag) => tag.name === name))
  return [...tags, ...missing.map((name) => ({ name, description: `${name}: a resource each user owns` }))]
}

/**
 * OpenAPI 3 generated from the route schemas (the same ones that validate and serialise),
 * served at /openapi.json, and a self-hosted Swagger UI at /docs (no CDN: works offline).
 * Routes are secured by default; public ones declare `security: []`.
 */
export const openapiPlugin = fp(async (app: FastifyInstance) => {
  await app.register(swagger, {
    // Shared schemas keep their $id as component name (Problem, User, Item) instead of def-N.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
    // A module's collection route is `/` under its prefix; Fastify answers with and without the slash, the document names it without.
    transform: ({ schema, url }) => ({ schema, url: url.length > 1 ? url.replace(/\/$/, '') : url }),
    transformObject: (documentObject) => completeDocument((documentObject as { openapiObject: Document }).openapiObject),
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Keel API',
        version: '1.0.0',
        description: 'Accounts with JWT authentication and resources each user owns. Errors are application/problem+json (RFC 9457).',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      servers: [{ url: '/', description: 'This server' }],
      components: {
        securitySchemes: {
          OAuth2PasswordBearer: {
            type: 'oauth2',
            description: 'Log in with your email as username and your password.',
            flows: { password: { tokenUrl: '/api/v1/auth/token', scopes: {} } },
          },
          BearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
      security: [{ OAuth2PasswordBearer: [] }, { BearerAuth: [] }],
      tags: [
        { name: 'auth', description: 'Log in, refresh and log out' },
        { name: 'users', description: 'Accounts: sign-up, your own profile, administration by superusers' },
        { name: 'items', description: 'Items: the resource each user owns' },
        { name: 'events', description: 'Changes as they happen: a Server-Sent Events stream (docs/events.md)' },
        { name: 'webhooks', description: 'Changes POSTed to your endpoints, signed (Standard Webhooks; docs/events.md)' },
        { name: 'operations', description: 'Health and readiness for load balancers' },
      ],
    },
  })
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { persistAuthorization: true, displayRequestDuration: true, tryItOutEnabled: true },
  })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}, { name: 'openapi' })
