import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { buildApp } from '../../src/app.js'
import { loadConfig, type Config } from '../../src/config.js'
import type { Database } from '../../src/db/client.js'
import { createMigrator } from '../../src/db/migrator.js'
import type { Resource } from '../../src/resources/define.js'
import { createTestDatabase } from './database.js'

export interface TestApp {
  app: FastifyInstance
  config: Config
  database: Database
  close(): Promise<void>
}

/** The real buildApp on a fresh migrated database, with fast bcrypt and silent logs. */
export async function buildTestApp(
  env: Record<string, string> = {},
  extra: { resources?: readonly Resource[]; migrationsDir?: string } = {},
): Promise<TestApp> {
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
  const { database, drop } = await createTestDatabase()
  await createMigrator(database, extra.migrationsDir).migrate()
  const app = await buildApp({ config, database, logger: pino({ level: config.logLevel }), resources: extra.resources })
  await app.ready()
  return {
    app,
    config,
    database,
    async close() {
      await app.close()
      await drop()
    },
  }
}
