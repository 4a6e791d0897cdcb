import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildOpenApiDocument, clientTypesPath, generateClientTypes, lintOpenApiDocument, repoRoot } from '../../scripts/openapi-document.js'
import { buildTestApp, type TestApp } from '../helpers/app.js'

interface Media { schema?: { $ref?: string }; example?: unknown; examples?: unknown }
interface Response { description: string; content?: Record<string, Media>; headers?: Record<string, unknown> }
interface Operation {
  operationId?: string
  summary?: string
  description?: string
  tags?: string[]
  security?: unknown[]
  requestBody?: { content: Record<string, Media> }
  responses: Record<string, Response>
}
interface Document {
  openapi: string
  paths: Record<string, Record<string, Operation>>
  components: { securitySchemes: Record<string, { type: string; flows?: { password?: { tokenUrl: string } } }> }
}

let t: TestApp
let doc: Document
beforeAll(async () => {
  t = await buildTestApp()
  const res = await t.app.inject('/openapi.json')
  expect(res.statusCode).toBe(200)
  doc = res.json<Document>()
})
afterAll(async () => t.close())

const operations = () => Object.entries(doc.paths).flatMap(([path, item]) =>
  Object.entries(item).map(([method, operation]) => ({ name: `${method.toUpperCase()} ${path}`, operation })))

/** The names of the operations for which `check` is false: an empty list reads well in a failure. */
const failing = (check: (operation: Operation) => boolean) =>
  operations().filter(({ operation }) => !check(operation)).map(({ name }) => name)

const hasExample = (media: Media) => media.example !== undefined || media.examples !== undefined
const successes = (operation: Operation) => Object.keys(operation.responses).filter((status) => /^2\d\d$/.test(status))

describe('GET /openapi.json', () => {
  it('documents the whole v1 API', () => {
    expect(doc.openapi).toBe('3.1.0')
    // Resources added by `npm run new:resource` bring their own routes; the shared resource suite checks those.
    const generated = readdirSync(join(repoRoot, 'src/modules')).filter((name) => existsSync(join(repoRoot, 'src/modules', name, `${name}.manifest.json`)))
    const builtIn = operations().map(({ name }) => name).filter((name) => !generated.some((g) => new RegExp(`^\\w+ /api/v1/(orgs/\\{org_id\\}/)?(\\w+/\\{\\w+\\}/)?${g}(/|$)`).test(name)))
    expect(builtIn.sort()).toEqual([
      'DELETE /api/v1/items/{id}', 'DELETE /api/v1/orgs/{org_id}', 'DELETE /api/v1/orgs/{org_id}/invitations/{id}',
      'DELETE /api/v1/orgs/{org_id}/members/{user_id}', 'DELETE /api/v1/orgs/{org_id}/webhooks/{id}', 'DELETE /api/v1/users/me', 'DELETE /api/v1/users/{id}',
      'DELETE /api/v1/webhooks/{id}',
      'GET /api/v1/events', 'GET /api/v1/items', 'GET /api/v1/items/{id}', 'GET /api/v1/orgs',
      'GET /api/v1/orgs/{org_id}', 'GET /api/v1/orgs/{org_id}/invitations', 'GET /api/v1/orgs/{org_id}/members',
      'GET /api/v1/orgs/{org_id}/webhooks', 'GET /api/v1/orgs/{org_id}/webhooks/{id}/deliveries',
      'GET /api/v1/users', 'GET /api/v1/users/me', 'GET /api/v1/users/{id}', 'GET /api/v1/webhooks', 'GET /api/v1/webhooks/{id}/deliveries',
      'GET /healthz', 'GET /readyz',
      'PATCH /api/v1/items/{id}', 'PATCH /api/v1/orgs/{org_id}', 'PATCH /api/v1/orgs/{org_id}/members/{user_id}',
      'PATCH /api/v1/orgs/{org_id}/webhooks/{id}', 'PATCH /api/v1/users/me', 'PATCH /api/v1/users/{id}', 'PATCH /api/v1/webhooks/{id}', 'POST /api/v1/auth/confirm-email-change',
      'POST /api/v1/auth/logout', 'POST /api/v1/auth/password-recovery', 'POST /api/v1/auth/password-reset',
      'POST /api/v1/auth/refresh', 'POST /api/v1/auth/token', 'POST /api/v1/auth/verify-email',
      'POST /api/v1/events/tickets', 'POST /api/v1/invitations/accept', 'POST /api/v1/items', 'POST /api/v1/orgs',
      'POST /api/v1/orgs/{org_id}/invitations', 'POST /api/v1/orgs/{org_id}/webhooks', 'POST /api/v1/users', 'POST /api/v1/users/me/email',
      'POST /api/v1/users/me/verification-email', 'POST /api/v1/webhooks', 'PUT /api/v1/items/{id}', 'PUT /api/v1/users/me/password',
    ])
  })

  it('gives every operation an operationId, a summary, a description and one tag', () => {
    expect(failing((o) => Boolean(o.operationId && o.summary && o.description) && o.tags?.length === 1)).toEqual([])
  })

  it('declares one success status per route, with a response schema unless it is 204', () => {
    expect(failing((o) => successes(o).length === 1)).toEqual([])
    expect(failing((o) => successes(o).every((status) =>
      // JSON, or for the event stream text/event-stream.
      status === '204' ? o.responses[status]!.content === undefined : Object.values(o.responses[status]!.content ?? {})[0]?.schema !== undefined))).toEqual([])
    // A route without any response schema shows up with Fastify's placeholder.
    expect(failing((o) => Object.values(o.responses).every((r) => r.description !== 'Default Response'))).toEqual([])
  })

  it('shows an example for every request body and every response body', () => {
    expect(failing((o) => Object.values(o.requestBody?.content ?? {}).every(hasExample))).toEqual([])
    expect(failing((o) => Object.values(o.responses).every((r) => Object.values(r.content ?? {}).every(hasExample)))).toEqual([])
  })

  it('declares every error as application/problem+json with the Problem schema', () => {
    expect(failing((o) => Object.entries(o.responses).filter(([status]) => Number(status) >= 400).every(([, r]) =>
      Object.keys(r.content ?? {}).join() === 'application/problem+json'
      && r.content!['application/problem+json']!.schema?.$ref === '#/components/schemas/Problem'))).toEqual([])
  })

  it('declares 401 with WWW-Authenticate on every route that needs a bearer token', () => {
    const isPublic = (o: Operation) => Array.isArray(o.security) && o.security.length === 0
    expect(failing((o) => isPublic(o) || o.responses['401']?.headers?.['WWW-Authenticate'] !== undefined)).toEqual([])
    expect(failing((o) => o.responses['401'] === undefined || o.responses['401'].headers?.['WWW-Authenticate'] !== undefined)).toEqual([])
  })

  it('lists the error statuses each class of route can give', () => {
    const operationsWhere = (match: (path: string, method: string, operation: Operation) => boolean) => Object.entries(doc.paths)
      .flatMap(([path, item]) => Object.entries(item).map(([method, operation]) => ({ path, method: method.toUpperCase(), operation })))
      .filter(({ path, method, operation }) => match(path, method, operation))
    const missing = (statuses: string[], match: Parameters<typeof operationsWhere>[0]) => {
      const routes = operationsWhere(match)
      expect(routes.length).toBeGreaterThan(0)
      return routes.flatMap(({ path, method, operation }) =>
        statuses.filter((status) => operation.responses[status] === undefined).map((status) => `${method} ${path}: ${status}`))
    }
    const needsToken = (o: Operation) => !(Array.isArray(o.security) && o.security.length === 0)
    expect(missing(['400', '413', '415', '422'], (_path, _method, o) => o.requestBody?.content['application/json'] !== undefined)).toEqual([])
    expect(missing(['401', '429'], (_path, _method, o) => needsToken(o))).toEqual([])
    expect(missing(['404', '422'], (path) => path.includes('{id}'))).toEqual([])
    expect(missing(['403'], (path, method) => /^\/api\/v1\/users(\/\{id\})?$/.test(path) && !(path === '/api/v1/users' && method === 'POST'))).toEqual([])
  })

  it('offers the OAuth2 password flow on the token route and plain bearer tokens', () => {
    expect(doc.components.securitySchemes.OAuth2PasswordBearer).toMatchObject({ type: 'oauth2', flows: { password: { tokenUrl: '/api/v1/auth/token' } } })
    expect(doc.components.securitySchemes.BearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' })
    expect(Object.keys(doc.paths['/api/v1/auth/token']!.post!.requestBody!.content).sort())
      .toEqual(['application/json', 'application/x-www-form-urlencoded'])
  })

  it('lints clean with redocly.yaml: no errors, no warnings', { timeout: 60_000 }, () => {
    const result = lintOpenApiDocument(doc as unknown as Record<string, unknown>)
    expect(result.output).toBe('')
    expect(result).toMatchObject({ errors: 0, warnings: 0 })
  })
})

describe('src/client/schema.d.ts', () => {
  it('is what `npm run client:generate` writes from the current document', async () => {
    const expected = await generateClientTypes(await buildOpenApiDocument(t.database))
    const committed = readFileSync(clientTypesPath, 'utf8')
    expect(committed === expected, 'the typed client is stale: run `npm run client:generate`').toBe(true)
  })
})
