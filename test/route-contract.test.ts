import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from './helpers/app.js'
import { createUser, type TestUser } from './helpers/factories.js'
import { expectProblem } from './helpers/http.js'

interface Operation {
  requestBody?: { content: Record<string, unknown> }
  responses: Record<string, unknown>
}

let t: TestApp
let user: TestUser
let operations: { method: string; path: string; operation: Operation }[]
beforeAll(async () => {
  t = await buildTestApp()
  user = await createUser(t.app)
  const paths = (t.app.swagger() as unknown as { paths: Record<string, Record<string, Operation>> }).paths
  operations = Object.entries(paths).flatMap(([path, ops]) => Object.entries(ops).map(([method, operation]) => ({ method, path, operation })))
})
afterAll(async () => t.close())

/** A concrete URL for a documented path: every `{param}` becomes `value`. */
const urlOf = (path: string, value = '1') => path.replace(/\{[^}]+\}/g, value)
const inject = (method: string, url: string, headers: Record<string, string>, payload?: string | Buffer) =>
  t.app.inject({ method: method.toUpperCase() as 'GET', url, headers: { ...user.headers, ...headers }, payload })

describe('request bodies only as the document declares them', () => {
  it('a form body is 415 on every operation whose body is JSON only, and accepted where a form is declared', async () => {
    const withBody = operations.filter((o) => o.operation.requestBody)
    expect(withBody.length).toBeGreaterThan(5)
    for (const { method, path, operation } of withBody) {
      const res = await inject(method, urlOf(path), { 'content-type': 'application/x-www-form-urlencoded' }, 'name=x&email=a%40b.example')
      if ('application/x-www-form-urlencoded' in operation.requestBody!.content) expect(res.statusCode, `${method} ${path}`).not.toBe(415)
      else expect(expectProblem(res, 415).detail, `${method} ${path}`).toMatch(/application\/json/)
    }
  })

  it('nothing is created by a refused form post', async () => {
    expectProblem(await inject('post', '/api/v1/items', { 'content-type': 'application/x-www-form-urlencoded' }, 'name=x'), 415)
    expect((await inject('get', '/api/v1/items', {})).json().total).toBe(0)
  })

  it('a body sent to an operation that takes none is a declared 400, whatever its type or size', async () => {
    const created = (await inject('post', '/api/v1/items', { 'content-type': 'application/json' }, '{"name":"kept"}')).json() as { id: number }
    const bodies: [string, string | Buffer][] = [['text/plain', 'hello'], ['application/json', '{"name": '], ['application/json', Buffer.alloc(2 * 1_048_576, 0x20)]]
    for (const { method, path, operation } of operations.filter((o) => !o.operation.requestBody && !['get', 'head'].includes(o.method))) {
      for (const [type, payload] of bodies) {
        const res = await inject(method, urlOf(path, String(created.id)), { 'content-type': type }, payload)
        expect(expectProblem(res, 400).detail, `${method} ${path} ${type}`).toMatch(/takes no request body/)
        expect(operation.responses['400'], `${method} ${path}`).toBeDefined()
      }
    }
    expect((await inject('get', `/api/v1/items/${created.id}`, {})).statusCode).toBe(200) // the DELETE with a body did nothing
  })

  it('a malformed URL component is a declared 400 on every operation with a path parameter', async () => {
    for (const { method, path, operation } of operations.filter((o) => o.path.includes('{'))) {
      const res = await inject(method, urlOf(path, '%ZZ'), {})
      expectProblem(res, 400)
      expect(operation.responses['400'], `${method} ${path}`).toBeDefined()
    }
  })
})

describe('the document declares what every class of operation can answer', () => {
  it('every operation 400 and 503; every rate-limited one 429; every one with a body 413, 415 and 422; with parameters 422', () => {
    const missing: string[] = []
    for (const { method, path, operation } of operations) {
      const expected = ['400']
      if (!['/healthz'].includes(path)) expected.push('503')
      if (!['/healthz', '/readyz'].includes(path)) expected.push('429')
      if (operation.requestBody) expected.push('413', '415', '422')
      if (path.includes('{')) expected.push('422')
      for (const status of expected) if (!operation.responses[status]) missing.push(`${method} ${path} ${status}`)
    }
    expect(missing).toEqual([])
  })
})
