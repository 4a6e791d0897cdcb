import { RefreshPool, type LoadSpec } from './load-spec.js'
import type { SeedResult, SeedUser } from './seed.js'

export type ReferenceId = 'bare-http' | 'pgbench' | 'bcrypt'

export const SCENARIO_IDS = ['healthz', 'item-get', 'items-list', 'items-list-cursor', 'items-search', 'item-create', 'item-patch', 'refresh', 'login', 'resource-get', 'resource-list']

export interface Scenario {
  id: string
  title: string
  /** What exactly is sent, for the report. */
  detail: string
  reference?: ReferenceId
  /** A floor for the measured duration: a login takes about a second at 32 connections, so 2 s would count almost none. */
  minSeconds?: number
  /** What is sent, by autocannon or wrk. */
  load: LoadSpec
}

export interface Sessions {
  accessTokens: Map<string, string>
  refreshPool: RefreshPool
}

interface TokenPair {
  access_token: string
  refresh_token: string
}

export async function login(baseUrl: string, email: string, password: string): Promise<TokenPair> {
  const res = await fetch(`${baseUrl}/api/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email, password }),
    signal: AbortSignal.timeout(10_000),
  })
  if (res.status !== 200) throw new Error(`login of ${email} answered ${res.status}: ${await res.text()}`)
  return (await res.json()) as TokenPair
}

/**
 * Access tokens for the scenario users and a pool of refresh tokens, all through the API. Each run (warm-up, then
 * measured) can strand one token per connection, hence three per connection plus a margin (wrk splits the pool
 * between its threads).
 */
export async function openSessions(baseUrl: string, seed: SeedResult, connections: number): Promise<Sessions> {
  const accessTokens = new Map<string, string>()
  for (const user of [seed.reader, seed.lister, seed.writer]) {
    accessTokens.set(user.email, (await login(baseUrl, user.email, seed.password)).access_token)
  }
  const refreshPool = new RefreshPool()
  const wanted = connections * 3 + 8
  // Spread over several users: if a token were ever reused, only that user's sessions would be revoked.
  const owners: SeedUser[] = seed.sessions
  let next = 0
  const lane = async () => {
    while (next < wanted) {
      const owner = owners[next++ % owners.length]!
      refreshPool.add((await login(baseUrl, owner.email, seed.password)).refresh_token)
    }
  }
  await Promise.all(Array.from({ length: 4 }, lane))
  return { accessTokens, refreshPool }
}

const json = { 'content-type': 'application/json' }

export function buildScenarios(seed: SeedResult, sessions: Sessions, bcryptRounds: number): Scenario[] {
  const bearer = (user: SeedUser) => ({ authorization: `Bearer ${sessions.accessTokens.get(user.email)}` })
  const small = seed.readerItemIds.length.toLocaleString('en-US')
  const big = seed.listerItems.toLocaleString('en-US')
  const itemPaths = seed.readerItemIds.map((id) => `/api/v1/items/${id}`)
  const generated = seed.resource
  // An org resource's paths start /api/v1/orgs/{org_id}/: the title says so, the role check being what it measures.
  const base = generated && generated.readerPath.includes('/orgs/') ? `/api/v1/orgs/{org_id}/${generated.name}` : `/api/v1/${generated?.name}`
  const resourceScenarios: Scenario[] = generated ? [
    {
      id: 'resource-get', title: `GET ${base}/{id}`, detail: `generated resource shaped like items, a random row of ${small}`,
      load: { method: 'GET', path: generated.readerIds.map((id) => `${generated.readerPath}/${id}`), headers: bearer(seed.reader) },
    },
    {
      id: 'resource-list', title: `GET ${base}?limit=20`, detail: `generated resource, first page of ${big} rows (total counted)`,
      load: { method: 'GET', path: `${generated.listerPath}?limit=20`, headers: bearer(seed.lister) },
    },
  ] : []
  return [
    {
      id: 'healthz', title: 'GET /healthz', detail: 'liveness, no auth, no database', reference: 'bare-http',
      load: { method: 'GET', path: '/healthz' },
    },
    {
      id: 'item-get', title: 'GET /api/v1/items/{id}', reference: 'pgbench',
      detail: `authenticated, a random item of an owner with ${small} items`,
      load: { method: 'GET', path: itemPaths, headers: bearer(seed.reader) },
    },
    {
      id: 'items-list', title: 'GET /api/v1/items?limit=20', detail: `first page, owner with ${big} items (total counted)`,
      load: { method: 'GET', path: '/api/v1/items?limit=20', headers: bearer(seed.lister) },
    },
    {
      // The same first page as items-list without its count (SPEC §9): the two compare within one run.
      id: 'items-list-cursor', title: 'GET /api/v1/items?limit=20&cursor=', detail: `first page by cursor, owner with ${big} items (no total)`,
      load: { method: 'GET', path: '/api/v1/items?limit=20&cursor=', headers: bearer(seed.lister) },
    },
    // Right after items' GET and list, on the same rows: the two compare within one run.
    ...resourceScenarios,
    {
      id: 'items-search', title: `GET /api/v1/items?limit=20&q=${seed.searchTerm}`,
      detail: `same owner, q matches ${seed.searchMatches.toLocaleString('en-US')} of ${big} names`,
      load: { method: 'GET', path: `/api/v1/items?limit=20&q=${seed.searchTerm}`, headers: bearer(seed.lister) },
    },
    {
      id: 'item-create', title: 'POST /api/v1/items', detail: 'JSON body, 201 after a durable commit',
      load: {
        method: 'POST', path: '/api/v1/items', headers: { ...bearer(seed.writer), ...json },
        body: JSON.stringify({ name: 'bench item', description: 'created by the benchmark' }),
      },
    },
    {
      id: 'item-patch', title: 'PATCH /api/v1/items/{id}', detail: `a random item of the ${small}-item owner, two fields`,
      load: {
        method: 'PATCH', path: itemPaths, headers: { ...bearer(seed.reader), ...json },
        body: JSON.stringify({ description: 'patched by the benchmark', is_active: true }),
      },
    },
    {
      id: 'refresh', title: 'POST /api/v1/auth/refresh', detail: 'each request a never-used refresh token (rotation)',
      load: { method: 'POST', path: '/api/v1/auth/refresh', headers: json, refreshPool: sessions.refreshPool },
    },
    {
      id: 'login', title: 'POST /api/v1/auth/token', reference: 'bcrypt', minSeconds: 5,
      detail: `JSON {email, password}, BCRYPT_ROUNDS=${bcryptRounds}`,
      load: {
        method: 'POST', path: '/api/v1/auth/token', headers: json,
        body: JSON.stringify({ email: seed.reader.email, password: seed.password }),
      },
    },
  ]
}
