import type { AddressInfo } from 'node:net'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { buildApp } from '../../src/app.js'
import { createDatabase } from '../../src/db/client.js'
import type { Resource } from '../../src/resources/define.js'
import type { TestApp } from './app.js'

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
