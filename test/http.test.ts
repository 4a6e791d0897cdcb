import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from './helpers/app.js'
import { createUser, type TestUser } from './helpers/factories.js'
import { expectProblem } from './helpers/http.js'

let t: TestApp
let user: TestUser
beforeAll(async () => {
  t = await buildTestApp({ CORS_ORIGINS: 'https://app.example.com' })
  user = await createUser(t.app)
})
afterAll(async () => t.close())

const post = (payload: string | Buffer, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
  t.app.inject({ method: 'POST', url: '/api/v1/items', headers: { ...user.headers, ...headers }, payload })

describe('errors are problem+json', () => {
  it('404 for an unknown route', async () => {
    const body = expectProblem(await t.app.inject({ url: '/nope?x=1' }), 404)
    expect(body).toEqual({ type: 'about:blank', title: 'Not Found', status: 404, detail: 'Route GET /nope not found' })
  })

  it('400 for malformed JSON, an empty JSON body and invalid UTF-8', async () => {
    expectProblem(await post('{"name": '), 400)
    expectProblem(await post(''), 400)
    expectProblem(await post(Buffer.from([0x7b, 0x22, 0x6e, 0x61, 0x6d, 0x65, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])), 400)
  })

  it('400 for a string with an unpaired surrogate, which PostgreSQL would silently replace', async () => {
    expectProblem(await post('{"name":"a\\ud800b"}'), 400)
    expectProblem(await post('{"name":"\\udc00"}'), 400)
    expect((await post('{"name":"pair \\ud83d\\ude00"}')).json().name).toBe('pair 😀')
  })

  it('400 for prototype poisoning', async () => {
    expectProblem(await post('{"name":"x","__proto__":{"is_superuser":true}}'), 400)
    expectProblem(await post('{"name":"x","constructor":{"prototype":{"a":1}}}'), 400)
  })

  it('415 for a wrong content type', async () => {
    expectProblem(await post('name=x', { 'content-type': 'text/plain' }), 415)
    expectProblem(await post('<x/>', { 'content-type': 'application/xml' }), 415)
    expectProblem(await t.app.inject({ method: 'POST', url: '/api/v1/items', headers: user.headers, payload: Buffer.from('{"name":"x"}') }), 415)
  })

  it('413 for a body over 1 MiB', async () => {
    expectProblem(await post(JSON.stringify({ name: 'x', description: 'd'.repeat(1_100_000) })), 413)
  })

  it('4xx, never 500, for deeply nested, huge and duplicate-key JSON', async () => {
    expectProblem(await post(`${'['.repeat(100_000)}${']'.repeat(100_000)}`), 422)
    expectProblem(await post(`{"name":"x","description":${'{"a":'.repeat(50_000)}1${'}'.repeat(50_000)}}`), 422)
    const many = expectProblem(await post(JSON.stringify(Object.fromEntries(Array.from({ length: 20_000 }, (_, i) => [`k${i}`, i])))), 422)
    expect(many.errors).toHaveLength(1) // big bodies get the first error only: listing 20,000 would cost real CPU
    expect(expectProblem(await post('{"name":"first","name":"second"}'), 400).detail).toMatch(/repeats the key "name"/)
    expectProblem(await post('{"name":"x","description":null,"d\u0065scription":"y"}'), 400)
    expect((await post('{"name":"nested keys may repeat across objects","description":"{\\"name\\":1}"}')).statusCode).toBe(201)
  })

  it('422 lists every invalid field', async () => {
    const body = expectProblem(await post(JSON.stringify({ name: '', is_active: 'no', extra: 1 })), 422)
    expect(body.errors?.map((e) => e.field).sort()).toEqual(['body.extra', 'body.is_active', 'body.name'])
  })

  it('malformed URLs and absurd ids get problem+json with the usual headers', async () => {
    const bad = await t.app.inject({ url: '/api/v1/items/%E0%A4%A', headers: user.headers })
    expectProblem(bad, 400)
    expect(bad.headers['x-request-id']).toBeDefined()
    expect(bad.headers['x-content-type-options']).toBe('nosniff')
    expectProblem(await t.app.inject({ url: `/api/v1/items/${'9'.repeat(300)}`, headers: user.headers }), 422)
    expectProblem(await t.app.inject({ url: `/api/v1/items/${'9'.repeat(1_100)}`, headers: user.headers }), 414)
  })

  it('odd query strings get 4xx', async () => {
    for (const query of ['?limit=%zz', '?q=%00', '?skip[]=1', `?q=${'x'.repeat(300)}`, '?sort=']) {
      const res = await t.app.inject({ url: `/api/v1/items${query}`, headers: user.headers })
      expect(res.statusCode, `${query}: ${res.body}`).toBeGreaterThanOrEqual(400)
      expect(res.statusCode).toBeLessThan(500)
    }
  })
})

describe('headers', () => {
  it('security headers on every answer, no X-Powered-By', async () => {
    for (const res of [await t.app.inject('/healthz'), await t.app.inject('/nope'), await t.app.inject({ url: '/api/v1/users/me' })]) {
      expect(res.headers['x-content-type-options']).toBe('nosniff')
      expect(res.headers['x-frame-options']).toBe('DENY')
      expect(res.headers['referrer-policy']).toBe('no-referrer')
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'")
      expect(res.headers['x-powered-by']).toBeUndefined()
    }
  })

  it('X-Request-Id: a safe client value is echoed, anything else replaced', async () => {
    expect((await t.app.inject({ url: '/healthz', headers: { 'x-request-id': 'abc.DEF-1:2_3' } })).headers['x-request-id']).toBe('abc.DEF-1:2_3')
    for (const bad of ['has space', 'x'.repeat(129), 'quote"', '']) {
      const id = (await t.app.inject({ url: '/healthz', headers: { 'x-request-id': bad } })).headers['x-request-id']
      expect(id).toMatch(/^[0-9a-f-]{36}$/)
    }
    expect((await t.app.inject('/nope')).headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/)
  })

  it('CORS only for the configured origins', async () => {
    const allowed = await t.app.inject({ method: 'OPTIONS', url: '/api/v1/items', headers: { origin: 'https://app.example.com', 'access-control-request-method': 'POST' } })
    expect(allowed.headers['access-control-allow-origin']).toBe('https://app.example.com')
    const denied = await t.app.inject({ url: '/healthz', headers: { origin: 'https://evil.example.com' } })
    expect(denied.headers['access-control-allow-origin']).toBeUndefined()
    const deniedPreflight = await t.app.inject({ method: 'OPTIONS', url: '/api/v1/items/1', headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'DELETE' } })
    expect(deniedPreflight.headers['access-control-allow-origin']).toBeUndefined()
  })

  // Issue 19, defect 3: the preflight answered GET,HEAD,POST only, so a browser front end could never edit or delete.
  const frontEndHeaders = ['authorization', 'content-type', 'idempotency-key', 'if-match', 'if-none-match', 'last-event-id']
  const list = (value: unknown) => String(value ?? '').toLowerCase().split(',').map((v) => v.trim()).filter(Boolean)
  for (const method of ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE']) {
    it(`CORS preflight of ${method} with the headers a front end sends`, async () => {
      const res = await t.app.inject({
        method: 'OPTIONS', url: '/api/v1/items/1',
        headers: { origin: 'https://app.example.com', 'access-control-request-method': method, 'access-control-request-headers': frontEndHeaders.join(',') },
      })
      expect(res.statusCode).toBe(204)
      expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com')
      expect(list(res.headers['access-control-allow-methods'])).toContain(method.toLowerCase())
      expect(list(res.headers['access-control-allow-headers'])).toEqual(expect.arrayContaining(frontEndHeaders))
    })
  }

  it('CORS answers expose the headers a front end reads', async () => {
    const res = await t.app.inject({ url: '/api/v1/items', headers: { ...user.headers, origin: 'https://app.example.com' } })
    expect(res.headers['access-control-allow-origin']).toBe('https://app.example.com')
    expect(list(res.headers['access-control-expose-headers'])).toEqual(expect.arrayContaining([
      'location', 'etag', 'link', 'retry-after', 'x-request-id', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'idempotent-replayed',
    ]))
  })

  // Issue 19, defect 4: one user's answers must not be stored by a shared cache or the browser's history.
  it('every answer of an authenticated route is Cache-Control: no-store, errors included; public documents stay cacheable', async () => {
    const created = await post(JSON.stringify({ name: 'cache' }))
    const answers = [
      created,
      await t.app.inject({ url: '/api/v1/users/me', headers: user.headers }),
      await t.app.inject({ url: '/api/v1/items', headers: user.headers }),
      await t.app.inject({ url: `/api/v1/items/${created.json<{ id: number }>().id}`, headers: user.headers }),
      await t.app.inject({ url: '/api/v1/items/999999', headers: user.headers }),
      await t.app.inject({ url: '/api/v1/items/0x2', headers: user.headers }),
      await t.app.inject({ url: '/api/v1/users/me' }),
      await t.app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email: user.email, password: user.password } }),
      await t.app.inject({ method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: user.refreshToken } }),
    ]
    expect(answers.map((r) => [r.statusCode, r.headers['cache-control']])).toEqual(answers.map((r) => [r.statusCode, 'no-store']))
    for (const url of ['/healthz', '/openapi.json']) expect((await t.app.inject(url)).headers['cache-control']).toBeUndefined()
  })
})

describe('docs', () => {
  it('/openapi.json documents every API route; /docs serves the UI', async () => {
    const doc = (await t.app.inject('/openapi.json')).json()
    expect(doc.openapi).toMatch(/^3\./)
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining([
      '/api/v1/users', '/api/v1/users/me', '/api/v1/users/me/password', '/api/v1/users/{id}',
      '/api/v1/auth/token', '/api/v1/auth/refresh', '/api/v1/auth/logout', '/api/v1/items', '/api/v1/items/{id}', '/healthz', '/readyz',
    ]))
    expect(Object.keys(doc.paths['/api/v1/auth/token'].post.requestBody.content).sort()).toEqual(['application/json', 'application/x-www-form-urlencoded'])
    const page = await t.app.inject('/docs/')
    expect(page.statusCode).toBe(200)
    expect(page.body).toContain('swagger')
  })
})

describe('body limit on a real socket', () => {
  it('413 for a chunked body over 1 MiB without reading it all', async () => {
    await t.app.listen({ host: '127.0.0.1', port: 0 })
    const { port } = t.app.server.address() as AddressInfo
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/api/v1/items', headers: { ...user.headers, 'content-type': 'application/json', 'transfer-encoding': 'chunked' } }, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('error', reject)
      const chunk = Buffer.alloc(64 * 1024, 0x20)
      let sent = 0
      // Keep sending up to 4 MiB; the server must answer before we are done.
      const pump = () => {
        while (sent < 4 * 1024 * 1024) {
          sent += chunk.length
          if (!req.write(chunk)) return void req.once('drain', pump)
        }
        req.end()
      }
      pump()
    })
    expect(status).toBe(413)
  })
})
