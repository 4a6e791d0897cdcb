import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { afterAll, beforeAll } from 'vitest'
import { buildApp } from '../../src/app.js'
import { createDatabase } from '../../src/db/client.js'
import type { Resource } from '../../src/resources/define.js'
import { buildTestApp, type TestApp } from './app.js'

/**
 * A second Keel instance on `t`'s database, as a load balancer would put next to it: on a server its own pool and
 * its own LISTEN connection; on the embedded engine (one connection per process) the same engine, with its own
 * caches and listeners. Both listen on real sockets; `close()` closes the peer only.
 */
export async function buildPeer(t: TestApp, resources: readonly Resource[] = []): Promise<{ app: FastifyInstance; close(): Promise<void> }> {
  const database = t.url ? await createDatabase({ databaseUrl: t.url, poolSize: 5 }) : t.database
  const app = await buildApp({ config: t.config, database, logger: pino({ level: 'silent' }), resources })
  await app.ready()
  return {
    app,
    async close() {
      await app.close()
      if (database !== t.database) await database.close()
    },
  }
}

/** Listens on an ephemeral port (once) and returns the base URL. */
export async function baseUrl(app: FastifyInstance): Promise<string> {
  if (!app.server.listening) await app.listen({ host: '127.0.0.1', port: 0 })
  return `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
}

export interface Answer<B = Record<string, unknown>> { status: number; body: B }

/**
 * Two instances on one test database behind "a load balancer" the test plays itself: `send(i, …)` goes to instance
 * `i % 2` through a real socket. Registers its own beforeAll/afterAll; read `t` and `send` inside tests only.
 */
export function useTwoInstances(options: Parameters<typeof buildTestApp>[1] = {}) {
  let peer: Awaited<ReturnType<typeof buildPeer>>
  let urls: string[] = []
  const pair = {
    t: undefined as unknown as TestApp,
    async send<B = Record<string, unknown>>(instance: number, user: { headers: Record<string, string> }, method: string, path: string, payload?: unknown): Promise<Answer<B>> {
      const res = await fetch(`${urls[instance % 2]}/api/v1${path}`, {
        method,
        headers: { ...user.headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
        body: payload === undefined ? undefined : JSON.stringify(payload),
      })
      const text = await res.text()
      return { status: res.status, body: (text ? JSON.parse(text) : {}) as B }
    },
  }
  beforeAll(async () => {
    pair.t = await buildTestApp({}, options)
    peer = await buildPeer(pair.t, options.resources ?? [])
    urls = [await baseUrl(pair.t.app), await baseUrl(peer.app)]
  })
  afterAll(async () => {
    await peer?.close()
    await pair.t?.close()
  })
  return pair
}
