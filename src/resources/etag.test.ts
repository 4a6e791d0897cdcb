import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../test/helpers/app.js'
import { createUser, type TestUser } from '../../test/helpers/factories.js'
import { expectProblem } from '../../test/helpers/http.js'

let t: TestApp
let user: TestUser
beforeAll(async () => {
  t = await buildTestApp()
  user = await createUser(t.app)
})
afterAll(async () => t.close())

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
const send = (method: Method, url: string, headers: Record<string, string> = {}, payload?: object, who = user) =>
  t.app.inject({ method, url, headers: { ...who.headers, ...headers }, ...(payload ? { payload } : {}) })
const newItem = async () => {
  const res = await send('POST', '/api/v1/items', {}, { name: 'Versioned' })
  expect(res.statusCode).toBe(201)
  return { url: res.headers.location as string, etag: res.headers.etag as string, body: res.json() }
}

describe('ETag', () => {
  it('is on every single-row answer, changes with every write, and stays out of the JSON', async () => {
    const { url, etag, body } = await newItem()
    expect(etag).toMatch(/^"\d+\.1"$/)
    expect(body).not.toHaveProperty('version')
    expect((await send('GET', url)).headers.etag).toBe(etag)
    const patched = await send('PATCH', url, {}, { name: 'Changed' })
    expect(patched.headers.etag).not.toBe(etag)
    const put = await send('PUT', url, {}, { name: 'Again' })
    expect(new Set([etag, patched.headers.etag, put.headers.etag]).size).toBe(3)
    expect((await send('GET', url)).headers.etag).toBe(put.headers.etag)
  })

  it('If-None-Match: 304 without a body while it matches, 200 once the row changed', async () => {
    const { url, etag } = await newItem()
    for (const header of [etag, `W/${etag}`, `"0.0", ${etag}`, '*']) {
      const res = await send('GET', url, { 'if-none-match': header })
      expect(res.statusCode, header).toBe(304)
      expect(res.body).toBe('')
      expect(res.headers.etag).toBe(etag)
    }
    await send('PATCH', url, {}, { description: 'x' })
    expect((await send('GET', url, { 'if-none-match': etag })).statusCode).toBe(200)
  })
})

describe('If-Match', () => {
  it('412 on PUT, PATCH and DELETE with another version, and nothing changes', async () => {
    const { url, etag, body } = await newItem()
    const stale = etag.replace(/\.1"$/, '.7"')
    expectProblem(await send('PATCH', url, { 'if-match': stale }, { name: 'Lost' }), 412)
    expectProblem(await send('PUT', url, { 'if-match': `W/${etag}` }, { name: 'Lost' }), 412)
    expectProblem(await send('PATCH', url, { 'if-match': stale }, {}), 412)
    expectProblem(await send('DELETE', url, { 'if-match': stale }), 412)
    const now = await send('GET', url)
    expect(now.json()).toEqual(body)
    expect(now.headers.etag).toBe(etag)
  })

  it('lets the write through at the named version (or *), and DELETE too', async () => {
    const { url, etag } = await newItem()
    const ok = await send('PATCH', url, { 'if-match': `"1.999", ${etag}` }, { name: 'Won' })
    expect(ok.statusCode).toBe(200)
    expect((await send('PATCH', url, { 'if-match': '*' }, {})).statusCode).toBe(200)
    expectProblem(await send('DELETE', url, { 'if-match': etag }), 412)
    expect((await send('DELETE', url, { 'if-match': ok.headers.etag as string })).statusCode).toBe(204)
  })

  it('404, not 412, for another user\'s row and for a missing one', async () => {
    const { url, etag } = await newItem()
    const other = await createUser(t.app)
    expectProblem(await send('PATCH', url, { 'if-match': '"0.0"' }, { name: 'x' }, other), 404)
    expectProblem(await send('DELETE', url, { 'if-match': etag }, undefined, other), 404)
    expectProblem(await send('PATCH', '/api/v1/items/2147483647', { 'if-match': '"0.0"' }, { name: 'x' }), 404)
  })

  it('of 10 concurrent PATCHes with one If-Match, exactly one succeeds', async () => {
    const { url, etag } = await newItem()
    const answers = await Promise.all(Array.from({ length: 10 }, (_, n) => send('PATCH', url, { 'if-match': etag }, { name: `w${n}` })))
    expect(answers.map((r) => r.statusCode).sort()).toEqual([200, ...Array(9).fill(412)])
    const winner = answers.find((r) => r.statusCode === 200)!
    expect((await send('GET', url)).json().name).toBe(winner.json().name)
  })

  it('never a 500 for absurd tags', async () => {
    const { url } = await newItem()
    const absurd = ['"', '""', '"1."', '".1"', 'W/', `"${'9'.repeat(40)}.1"`, `"1.${'9'.repeat(10)}"`, '"-1.-1"', 'é"1.1"', '"1.1', 'x'.repeat(8000), '*,*', ' ']
    for (const header of absurd) {
      for (const method of ['PATCH', 'DELETE'] as const) {
        const res = await send(method, url, { 'if-match': header }, method === 'PATCH' ? { name: 'n' } : undefined)
        expect([200, 204, 412], `${method} ${header.slice(0, 20)}`).toContain(res.statusCode)
      }
      expect([200, 304]).toContain((await send('GET', url, { 'if-none-match': header })).statusCode)
    }
  })
})
