import { randomUUID } from 'node:crypto'
import { Ajv2020 } from 'ajv/dist/2020.js'
import addFormatsModule from 'ajv-formats'
import createClient, { type Middleware } from 'openapi-fetch'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { paths } from '../../src/client/schema.js'
import { startServer, type RunningServer } from './server.js'

// ajv-formats is CommonJS with a default export TypeScript's NodeNext interop does not see.
const addFormats = addFormatsModule as unknown as (ajv: Ajv2020) => Ajv2020

interface Operation { responses: Record<string, { content?: Record<string, unknown> }> }

const DOCUMENT_ID = 'https://keel.invalid/openapi.json'
const pointer = (...segments: string[]) =>
  segments.map((s) => encodeURIComponent(s.replaceAll('~', '~0').replaceAll('/', '~1'))).join('/')

/**
 * Checks every answer against the document the server publishes: the status is documented, the media type
 * is the documented one, and the body validates against its schema (JSON Schema 2020-12, as OpenAPI 3.1 says).
 * Together with the generated types, a drift between document and server fails here.
 */
async function conformanceChecker(baseUrl: string): Promise<{ middleware: Middleware; checked: string[] }> {
  const document = await (await fetch(`${baseUrl}/openapi.json`)).json() as { paths: Record<string, Record<string, Operation>> }
  const ajv = addFormats(new Ajv2020({ strict: false, allErrors: true }))
  ajv.addSchema({ ...document, $id: DOCUMENT_ID })
  const checked: string[] = []
  const middleware: Middleware = {
    async onResponse({ request, response, schemaPath }) {
      const method = request.method.toLowerCase()
      const name = `${request.method} ${schemaPath} → ${response.status}`
      const documented = document.paths[schemaPath]?.[method]?.responses[String(response.status)]
      expect(documented, `${name} is not in the document`).toBeDefined()
      const mediaType = response.headers.get('content-type')?.split(';')[0]
      if (!documented!.content) {
        expect(mediaType, `${name} has a body the document does not declare`).toBeUndefined()
      } else {
        expect(Object.keys(documented!.content), `${name} answered ${mediaType}`).toContain(mediaType)
        const ref = `${DOCUMENT_ID}#/${pointer('paths', schemaPath, method, 'responses', String(response.status), 'content', mediaType!, 'schema')}`
        const validate = ajv.compile({ $ref: ref })
        const body: unknown = await response.clone().json()
        expect(validate(body), `${name}: ${ajv.errorsText(validate.errors)}`).toBe(true)
      }
      checked.push(name)
    },
  }
  return { middleware, checked }
}

let server: RunningServer
beforeAll(async () => { server = await startServer() })
afterAll(async () => server.close())

describe('typed client (openapi-fetch on src/client/schema.d.ts) against a real socket', () => {
  it('signs up, logs in, manages an item, refreshes and logs out', async () => {
    const { middleware, checked } = await conformanceChecker(server.baseUrl)
    const client = createClient<paths>({ baseUrl: server.baseUrl })
    client.use(middleware)
    const email = `client-${randomUUID().slice(0, 8)}@example.com`
    const password = 'correct horse battery'

    const signUp = await client.POST('/api/v1/users', { body: { email, password, full_name: 'Ada Lovelace' } })
    expect(signUp.response.status).toBe(201)
    expect(signUp.data).toMatchObject({ email, full_name: 'Ada Lovelace', is_active: true, is_superuser: false, updated_at: null })

    const login = await client.POST('/api/v1/auth/token', { body: { email, password } })
    expect(login.response.status).toBe(200)
    expect(login.data).toMatchObject({ token_type: 'bearer', expires_in: 1800 })
    const tokens = login.data!

    const authed = createClient<paths>({ baseUrl: server.baseUrl, headers: { Authorization: `Bearer ${tokens.access_token}` } })
    authed.use(middleware)

    const me = await authed.GET('/api/v1/users/me')
    expect(me.data?.id).toBe(signUp.data!.id)

    const created = await authed.POST('/api/v1/items', { body: { name: 'Notebook', description: 'A5, dotted' } })
    expect(created.response.status).toBe(201)
    const item = created.data!
    expect(item).toMatchObject({ name: 'Notebook', description: 'A5, dotted', is_active: true, owner_id: me.data!.id, updated_at: null })
    expect(created.response.headers.get('location')).toBe(`/api/v1/items/${item.id}`)

    const read = await authed.GET('/api/v1/items/{id}', { params: { path: { id: item.id } } })
    expect(read.data).toEqual(item)

    const list = await authed.GET('/api/v1/items', { params: { query: { limit: 10, q: 'note', sort: '-created_at' } } })
    expect(list.data).toEqual({ items: [item], total: 1, page: 1, size: 10, next_cursor: null })

    const patched = await authed.PATCH('/api/v1/items/{id}', { params: { path: { id: item.id } }, body: { is_active: false } })
    expect(patched.data).toMatchObject({ ...item, is_active: false, updated_at: expect.any(String) })

    const deleted = await authed.DELETE('/api/v1/items/{id}', { params: { path: { id: item.id } } })
    expect(deleted.response.status).toBe(204)
    const gone = await authed.GET('/api/v1/items/{id}', { params: { path: { id: item.id } } })
    expect(gone.response.status).toBe(404)
    expect(gone.error).toMatchObject({ status: 404, title: 'Not Found' })

    const refreshed = await client.POST('/api/v1/auth/refresh', { body: { refresh_token: tokens.refresh_token } })
    expect(refreshed.response.status).toBe(200)
    expect(refreshed.data!.refresh_token).not.toBe(tokens.refresh_token)

    const logout = await client.POST('/api/v1/auth/logout', { body: { refresh_token: refreshed.data!.refresh_token } })
    expect(logout.response.status).toBe(204)
    const afterLogout = await client.POST('/api/v1/auth/refresh', { body: { refresh_token: refreshed.data!.refresh_token } })
    expect(afterLogout.response.status).toBe(401)
    expect(afterLogout.response.headers.get('www-authenticate')).toBe('Bearer')

    const unauthenticated = await client.GET('/api/v1/items')
    expect(unauthenticated.response.status).toBe(401)

    expect(checked).toEqual([
      'POST /api/v1/users → 201',
      'POST /api/v1/auth/token → 200',
      'GET /api/v1/users/me → 200',
      'POST /api/v1/items → 201',
      'GET /api/v1/items/{id} → 200',
      'GET /api/v1/items → 200',
      'PATCH /api/v1/items/{id} → 200',
      'DELETE /api/v1/items/{id} → 204',
      'GET /api/v1/items/{id} → 404',
      'POST /api/v1/auth/refresh → 200',
      'POST /api/v1/auth/logout → 204',
      'POST /api/v1/auth/refresh → 401',
      'GET /api/v1/items → 401',
    ])
  })
})
