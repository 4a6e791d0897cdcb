import type { AutocannonRequest } from 'autocannon'
import type { SeedResult, SeedUser } from './seed.js'

export type ReferenceId = 'bare-http' | 'pgbench' | 'bcrypt'

export const SCENARIO_IDS = ['healthz', 'item-get', 'items-list', 'items-search', 'item-create', 'item-patch', 'refresh', 'login']

export interface Scenario {
  id: string
  title: string
  /** What exactly is sent, for the report. */
  detail: string
  reference?: ReferenceId
  /** A floor for the measured duration: a login takes about a second at 32 connections, so 2 s would count almost none. */
  minSeconds?: number
  /** Fresh request objects for one autocannon run. */
  requests: () => AutocannonRequest[]
}

export interface Sessions {
  accessTokens: Map<string, string>
  refreshPool: RefreshPool
}

/**
 * Refresh tokens that were never sent. Refresh rotates (the old token dies, and presenting it again revokes every
 * session of its user), so each request takes one token here and a 200 gives the new one back. A request cut off at
 * the end of a run loses its token: it may have been rotated already, and reusing it would turn the rest into 401s.
 */
export class RefreshPool {
  private readonly tokens: string[] = []
  add(token: string): void {
    this.tokens.push(token)
  }

  take(): string | undefined {
    return this.tokens.shift()
  }

  get size(): number {
    return this.tokens.length
  }
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
 * measured) can strand one token per connection, hence two per connection plus a margin.
 */
export async function openSessions(baseUrl: string, seed: SeedResult, connections: number): Promise<Sessions> {
  const accessTokens = new Map<string, string>()
  for (const user of [seed.reader, seed.lister, seed.writer]) {
    accessTokens.set(user.email, (await login(baseUrl, user.email, seed.password)).access_token)
  }
  const refreshPool = new RefreshPool()
  const wanted = connections * 2 + 8
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
const pick = <T>(values: readonly T[]): T => values[Math.floor(Math.random() * values.length)]!

export function buildScenarios(seed: SeedResult, sessions: Sessions, bcryptRounds: number): Scenario[] {
  const bearer = (user: SeedUser) => ({ authorization: `Bearer ${sessions.accessTokens.get(user.email)}` })
  const small = seed.readerItemIds.length.toLocaleString('en-US')
  const big = seed.listerItems.toLocaleString('en-US')
  const pool = sessions.refreshPool
  return [
    {
      id: 'healthz', title: 'GET /healthz', detail: 'liveness, no auth, no database', reference: 'bare-http',
      requests: () => [{ method: 'GET', path: '/healthz' }],
    },
    {
      id: 'item-get', title: 'GET /api/v1/items/{id}', reference: 'pgbench',
      detail: `authenticated, a random item of an owner with ${small} items`,
      requests: () => [{
        method: 'GET', headers: bearer(seed.reader),
        setupRequest: (req) => ({ ...req, path: `/api/v1/items/${pick(seed.readerItemIds)}` }),
      }],
    },
    {
      id: 'items-list', title: 'GET /api/v1/items?limit=20', detail: `first page, owner with ${big} items (total counted)`,
      requests: () => [{ method: 'GET', path: '/api/v1/items?limit=20', headers: bearer(seed.lister) }],
    },
    {
      id: 'items-search', title: `GET /api/v1/items?limit=20&q=${seed.searchTerm}`,
      detail: `same owner, q matches ${seed.searchMatches.toLocaleString('en-US')} of ${big} names`,
      requests: () => [{ method: 'GET', path: `/api/v1/items?limit=20&q=${seed.searchTerm}`, headers: bearer(seed.lister) }],
    },
    {
      id: 'item-create', title: 'POST /api/v1/items', detail: 'JSON body, 201 after a durable commit',
      requests: () => [{
        method: 'POST', path: '/api/v1/items', headers: { ...bearer(seed.writer), ...json },
        body: JSON.stringify({ name: 'bench item', description: 'created by the benchmark' }),
      }],
    },
    {
      id: 'item-patch', title: 'PATCH /api/v1/items/{id}', detail: `a random item of the ${small}-item owner, two fields`,
      requests: () => [{
        method: 'PATCH', headers: { ...bearer(seed.reader), ...json },
        body: JSON.stringify({ description: 'patched by the benchmark', is_active: true }),
        setupRequest: (req) => ({ ...req, path: `/api/v1/items/${pick(seed.readerItemIds)}` }),
      }],
    },
    {
      id: 'refresh', title: 'POST /api/v1/auth/refresh', detail: 'each request a never-used refresh token (rotation)',
      requests: () => [{
        method: 'POST', path: '/api/v1/auth/refresh', headers: json,
        // An empty pool would mean earlier refreshes failed: send a dead token so it shows as a 401, not a stall.
        setupRequest: (req) => ({ ...req, body: JSON.stringify({ refresh_token: pool.take() ?? 'pool-exhausted' }) }),
        onResponse: (status, body) => {
          if (status === 200) pool.add((JSON.parse(body) as TokenPair).refresh_token)
        },
      }],
    },
    {
      id: 'login', title: 'POST /api/v1/auth/token', reference: 'bcrypt', minSeconds: 5,
      detail: `JSON {email, password}, BCRYPT_ROUNDS=${bcryptRounds}`,
      requests: () => [{
        method: 'POST', path: '/api/v1/auth/token', headers: json,
        body: JSON.stringify({ email: seed.reader.email, password: seed.password }),
      }],
    },
  ]
}
