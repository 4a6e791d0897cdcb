import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import pino, { type Logger } from 'pino'
import { buildApp } from '../../src/app.js'
import type { Clock } from '../../src/modules/account-email/email-tokens.repository.js'
import { loadConfig, type Config } from '../../src/config.js'
import type { Database } from '../../src/db/client.js'
import { createMigrator } from '../../src/db/migrator.js'
import { inject } from 'vitest'
import type { Resource } from '../../src/resources/define.js'
import { createTestDatabase } from './database.js'
import { recordResponses } from './response-log.js'

export interface TestApp {
  app: FastifyInstance
  config: Config
  database: Database
  /** The database's URL on TEST_DATABASE_URL's server; undefined on the embedded engine. */
  url: string | undefined
  close(): Promise<void>
}

export interface TestAppOptions {
  /** Time for email tokens (expiry tests move it forward). */
  clock?: Clock
  /** Instead of silent logs: tests that read what was logged. */
  logger?: Logger
  /** Adds test-only routes or hooks (Fastify refuses them once the app is ready). */
  beforeReady?: (app: FastifyInstance) => void
  /** Resources beyond the registered ones, and the migrations that create their tables (tests of the resource core). */
  resources?: readonly Resource[]
  migrationsDir?: string
}

/** The real buildApp on a fresh migrated database, with fast bcrypt and silent logs. */
export async function buildTestApp(env: Record<string, string> = {}, options: TestAppOptions = {}): Promise<TestApp> {
  const config = loadConfig({
    NODE_ENV: 'test',
    SECRET_KEY: 'test-secret-key-that-is-long-enough-0123456789',
    BCRYPT_ROUNDS: '4',
    LOG_LEVEL: 'silent',
    DATA_DIR: mkdtempSync(join(tmpdir(), 'keel-data-')),
    RATE_LIMIT_PER_MINUTE: '100000',
    LOGIN_RATE_LIMIT_PER_MINUTE: '100000',
    ...env,
  })
  const { database, url, drop } = await createTestDatabase()
  await createMigrator(database, options.migrationsDir).migrate()
  const app = await buildApp({ config, database, logger: options.logger ?? pino({ level: config.logLevel }), clock: options.clock, resources: options.resources })
  const flushResponses = recordResponses(app, inject('responseLog'))
  options.beforeReady?.(app)
  await app.ready()
  return {
    app,
    config,
    database,
    url,
    async close() {
      flushResponses()
      await app.close()
      await drop()
    },
  }
}
