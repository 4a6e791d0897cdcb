import { randomUUID } from 'node:crypto'
import { randomIp, Tally, type Answer } from './client.js'
import type { Instance, Stack } from './stack.js'

export interface Account { id: number; email: string; password: string; access: string; refresh: string }

const is = (...statuses: number[]) => (s: number) => statuses.includes(s)

/** Signs up and logs in through `base` (fresh client address each time, so no limit is in the way). */
export async function createAccount(tally: Tally, base: string): Promise<Account> {
  const email = `scale-${randomUUID().slice(0, 12)}@example.com`
  const password = `pw-${randomUUID()}`
  const signUp = await tally.send(base, 'POST', '/api/v1/users', { json: { email, password } }, is(201))
  const login = await tally.send(base, 'POST', '/api/v1/auth/token', { json: { email, password } }, is(200))
  const tokens = login.json<{ access_token: string; refresh_token: string }>()
  return { id: signUp.json<{ id: number }>().id, email, password, access: tokens.access_token, refresh: tokens.refresh_token }
}

export async function loginAs(tally: Tally, base: string, email: string, password: string): Promise<string> {
  const res = await tally.send(base, 'POST', '/api/v1/auth/token', { json: { email, password } }, is(200))
  return res.json<{ access_token: string }>().access_token
}

/** Sign-up, login, item CRUD, lists, refresh rotation and reuse detection, the first superuser: all through HAProxy. */
export async function checkApi(stack: Stack): Promise<Tally> {
  const t = new Tally()
  const base = stack.haproxy.base
  const [ada, bob] = [await createAccount(t, base), await createAccount(t, base)]
  const relogin = await t.send(base, 'POST', '/api/v1/auth/token', { json: { email: ada.email, password: ada.password } }, is(200))
  t.check(relogin.headers['cache-control'] === 'no-store', 'token answers carry Cache-Control: no-store')
  const token = ada.access
  const created = await t.send(base, 'POST', '/api/v1/items', { token, json: { name: 'Notebook', description: 'A5' } }, is(201))
  const item = created.json<{ id: number }>()
  t.check(created.headers.location === `/api/v1/items/${item.id}`, 'POST /items answers a Location header')
  await t.send(base, 'GET', `/api/v1/items/${item.id}`, { token }, is(200))
  await t.send(base, 'GET', `/api/v1/items/${item.id}`, { token: bob.access }, is(404))
  await t.send(base, 'PATCH', `/api/v1/items/${item.id}`, { token, json: { name: 'Notebook 2' } }, is(200))
  await t.send(base, 'PUT', `/api/v1/items/${item.id}`, { token, json: { is_active: false } }, is(200))
  for (let i = 0; i < 5; i++) await t.send(base, 'POST', '/api/v1/items', { token, json: { name: `pen ${i}` } }, is(201))
  const page = (await t.send(base, 'GET', '/api/v1/items?limit=2&skip=2&q=PEN&sort=-name', { token }, is(200))).json<{ items: { name: string }[]; total: number; page: number }>()
  t.check(page.total === 5 && page.page === 2 && page.items.map((i) => i.name).join() === 'pen 2,pen 1', `list page: ${JSON.stringify(page)}`)
  // The failure: 40 concurrent authenticated reads through PgBouncer were 40 answers of 500.
  const reads = await Promise.all(Array.from({ length: 40 }, () => t.send(base, 'GET', `/api/v1/items/${item.id}`, { token }, is(200))))
  t.check(reads.every((r) => r.status === 200), '40 concurrent reads all 200')
  await t.send(base, 'DELETE', `/api/v1/items/${item.id}`, { token }, is(204))
  await t.send(base, 'GET', `/api/v1/items/${item.id}`, { token }, is(404))

  const rotated = (await t.send(base, 'POST', '/api/v1/auth/refresh', { json: { refresh_token: ada.refresh } }, is(200))).json<{ refresh_token: string; access_token: string }>()
  await t.send(base, 'POST', '/api/v1/auth/refresh', { json: { refresh_token: ada.refresh } }, is(401)) // reuse
  await t.send(base, 'POST', '/api/v1/auth/refresh', { json: { refresh_token: rotated.refresh_token } }, is(401)) // the family died
  await t.send(base, 'POST', '/api/v1/auth/logout', { json: { refresh_token: rotated.refresh_token } }, is(204))

  const supers = await stack.sql<{ n: string }>('select count(*) as n from users where is_superuser')
  t.check(supers[0]?.n === '1', `exactly one superuser after three instances started together (found ${supers[0]?.n})`)
  const root = await loginAs(t, base, stack.superuser.email, stack.superuser.password)
  await t.send(base, 'GET', '/api/v1/users?limit=1', { token: root }, is(200))
  return t
}

/** The global limit and both login limits hold for the sum of three instances (shared through Redis). */
export async function checkRateLimits(stack: Stack): Promise<Tally> {
  const t = new Tally()
  const base = stack.haproxy.base
  const { perMinute, loginPerMinute } = stack.limits
  // Fresh connections, one after another: HAProxy spreads them over the three instances.
  const ip = '192.0.2.10'
  const answers: Answer[] = []
  for (let i = 0; i < perMinute + 60; i++) answers.push(await t.send(base, 'GET', '/api/v1/users/me', { ip }, is(401, 429)))
  const served = new Set(answers.map((a) => a.headers['x-served-by']))
  const accepted = answers.filter((a) => a.status !== 429).length
  t.check(served.size === 3, `the burst reached all three instances (${[...served].join(', ')})`)
  t.check(accepted === perMinute, `global limit: ${accepted} of ${answers.length} requests accepted, limit ${perMinute}`)
  t.check(answers.filter((a) => a.status === 429).every((a) => Number(a.headers['retry-after']) > 0), '429 carries Retry-After')

  // Signed up, never logged in: every attempt below is one of the limit's.
  const victim = { email: `scale-${randomUUID().slice(0, 12)}@example.com` }
  await t.send(base, 'POST', '/api/v1/users', { json: { email: victim.email, password: 'victim password' } }, is(201))
  const perEmail = []
  for (let i = 0; i < loginPerMinute + 5; i++) {
    perEmail.push(await t.send(base, 'POST', '/api/v1/auth/token', { ip: randomIp(), json: { email: victim.email, password: 'wrong password' } }, is(401, 429)))
  }
  const emailAccepted = perEmail.filter((a) => a.status !== 429).length
  t.check(emailAccepted === loginPerMinute, `login limit per email: ${emailAccepted} attempts accepted from ${loginPerMinute + 5} addresses, limit ${loginPerMinute}`)
  const perIp = []
  for (let i = 0; i < loginPerMinute + 5; i++) {
    perIp.push(await t.send(base, 'POST', '/api/v1/auth/token', { ip: '192.0.2.20', json: { email: `nobody-${i}@example.com`, password: 'wrong password' } }, is(401, 429)))
  }
  const ipAccepted = perIp.filter((a) => a.status !== 429).length
  t.check(ipAccepted === loginPerMinute, `login limit per address: ${ipAccepted} attempts accepted, limit ${loginPerMinute}`)
  return t
}

/** Deactivation, password change and deletion on instance A: the old access token is 401 at once on B and C. */
export async function checkRevocation(stack: Stack): Promise<Tally> {
  const t = new Tally()
  const [a, b, c] = stack.instances as [Instance, Instance, Instance]
  const root = await loginAs(t, a.base, stack.superuser.email, stack.superuser.password)
  // Four fresh connections per instance reach both of its workers; each then has the user in its cache.
  const meOn = async (instance: Instance, token: string, expected: number) => {
    for (let i = 0; i < 4; i++) await t.send(instance.base, 'GET', '/api/v1/users/me', { token }, is(expected))
  }
  const revocations: [string, (user: Account) => Promise<unknown>][] = [
    ['deactivation', (u) => t.send(a.base, 'PATCH', `/api/v1/users/${u.id}`, { token: root, json: { is_active: false } }, is(200))],
    ['password change', (u) => t.send(a.base, 'PUT', '/api/v1/users/me/password', {
      token: u.access, json: { current_password: u.password, new_password: 'a brand new password' },
    }, is(204))],
    ['deletion', (u) => t.send(a.base, 'DELETE', '/api/v1/users/me', { token: u.access }, is(204))],
  ]
  for (const [what, revoke] of revocations) {
    const user = await createAccount(t, stack.haproxy.base)
    await meOn(b, user.access, 200)
    await meOn(c, user.access, 200)
    await revoke(user)
    const before = t.kinds.get('200') ?? 0
    await meOn(b, user.access, 401)
    await meOn(c, user.access, 401)
    t.check((t.kinds.get('200') ?? 0) === before, `after a ${what} on ${a.name}, the old token still worked on ${b.name} or ${c.name}`)
  }
  return t
}
