import { it } from 'vitest'
import { buildTestApp } from '../helpers/app.js'
import { createUser } from '../helpers/factories.js'

it('probe', async () => {
  const t = await buildTestApp({ LOGIN_RATE_LIMIT_PER_MINUTE: '2' })
  const u = await createUser(t.app)
  const big = 'x'.repeat(1_100_000)
  const show = async (label: string, opts: Parameters<typeof t.app.inject>[0]) => {
    const r = await t.app.inject(opts as never)
    console.log(label, r.statusCode, r.headers['content-type'], r.headers['www-authenticate'] ?? '', r.headers['retry-after'] ?? '', r.headers['ratelimit-limit'] ?? '', r.body.slice(0, 300))
  }
  for (const url of ['/api/v1/auth/token', '/api/v1/auth/refresh', '/api/v1/auth/logout', '/api/v1/users']) {
    await show(`413 ${url}`, { method: 'POST', url, headers: { 'content-type': 'application/json' }, payload: `{"a":"${big}"}` })
  }
  await show('413 patch me', { method: 'PATCH', url: '/api/v1/users/me', headers: { ...u.headers, 'content-type': 'application/json' }, payload: `{"a":"${big}"}` })
  await show('413 pw', { method: 'PUT', url: '/api/v1/users/me/password', headers: { ...u.headers, 'content-type': 'application/json' }, payload: `{"a":"${big}"}` })
  await show('415', { method: 'POST', url: '/api/v1/items', headers: { ...u.headers, 'content-type': 'text/plain' }, payload: 'hi' })
  await show('400', { method: 'POST', url: '/api/v1/items', headers: { ...u.headers, 'content-type': 'application/json' }, payload: '{' })
  await show('422', { method: 'POST', url: '/api/v1/items', headers: u.headers, payload: { name: '' } })
  await show('422 id', { method: 'GET', url: '/api/v1/items/abc', headers: u.headers })
  await show('404', { method: 'GET', url: '/api/v1/items/999', headers: u.headers })
  await show('401', { method: 'GET', url: '/api/v1/items' })
  await show('401 bad', { method: 'GET', url: '/api/v1/items', headers: { authorization: 'Bearer x.y.z' } })
  await show('403', { method: 'GET', url: '/api/v1/users', headers: u.headers })
  await show('409', { method: 'POST', url: '/api/v1/users', payload: { email: u.email.toUpperCase(), password: 'abcdefghij' } })
  await show('401 login', { method: 'POST', url: '/api/v1/auth/token', payload: { email: u.email, password: 'wrong-password' } })
  await show('429 login', { method: 'POST', url: '/api/v1/auth/token', payload: { email: u.email, password: 'wrong-password' } })
  await show('401 refresh', { method: 'POST', url: '/api/v1/auth/refresh', payload: { refresh_token: 'nope' } })
  await show('204 logout', { method: 'POST', url: '/api/v1/auth/logout', payload: { refresh_token: 'nope' } })
  await show('GET with body 415?', { method: 'DELETE', url: '/api/v1/items/1', headers: { ...u.headers, 'content-type': 'text/plain' }, payload: 'x' })
  await show('form login', { method: 'POST', url: '/api/v1/auth/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'username=a%40b.c&password=x' })
  await show('create', { method: 'POST', url: '/api/v1/items', headers: u.headers, payload: { name: 'n' } })
  await show('me', { method: 'GET', url: '/api/v1/users/me', headers: u.headers })
  await t.close()
})
