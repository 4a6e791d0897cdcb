import type { FastifyInstance } from 'fastify'
import { buildApp } from './app.js'
import { ConfigError, loadConfig, type Config } from './config.js'
import { createDatabase, type Database } from './db/client.js'
import { DataDirLockedError } from './db/data-dir-lock.js'
import { createMigrator } from './db/migrator.js'
import { createLogger } from './logger.js'
import { createRefreshTokensRepository } from './modules/auth/refresh-tokens.repository.js'
import { createUsersService } from './modules/users/users.service.js'
import { loadEnvFile } from './shared/env-file.js'

const HOUR_MS = 3_600_000

/** Start-up: config, database, migrations, first superuser, app, listen; SIGTERM/SIGINT drain and exit 0. */
async function start(): Promise<void> {
  loadEnvFile()
  const config = loadConfig()
  const logger = createLogger(config.logLevel)
  const started = performance.now()
  const database = await createDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger })
  let app: FastifyInstance | undefined
  try {
    await prepareDatabase(config, database, logger)
    app = await buildApp({ config, database, logger })
    await app.listen({ host: config.host, port: config.port })
  } catch (err) {
    await app?.close()
    await database.close()
    throw err
  }
  logger.info({ engine: database.engine, startup_ms: Math.round(performance.now() - started) }, `Keel ready: docs at http://${config.host}:${config.port}/docs`)

  const tokens = createRefreshTokensRepository(database.db)
  const sweeper = setInterval(() => {
    tokens.deleteExpired().catch((err: unknown) => logger.warn({ err }, 'expired refresh token clean-up failed'))
  }, HOUR_MS)
  sweeper.unref()

  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'stopping: finishing in-flight requests')
    clearInterval(sweeper)
    // Fastify stops accepting, answers 503 to new requests on kept-alive sockets, waits for in-flight ones.
    app!.close()
      .then(() => database.close())
      .then(() => {
        logger.info('stopped')
        logger.flush?.()
        process.exit(0)
      }, (err: unknown) => {
        logger.error({ err }, 'unclean shutdown')
        process.exit(1)
      })
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
}

async function prepareDatabase(config: Config, database: Database, logger: ReturnType<typeof createLogger>): Promise<void> {
  if (config.migrateOnStart) {
    const applied = await createMigrator(database).migrate()
    if (applied.length) logger.info({ applied }, 'migrations applied')
  }
  await createRefreshTokensRepository(database.db).deleteExpired()
  if (config.firstSuperuser) {
    const created = await createUsersService(database.db, config).ensureSuperuser(config.firstSuperuser.email, config.firstSuperuser.password)
    if (created) logger.info({ email: config.firstSuperuser.email }, 'first superuser created')
  }
}

start().catch((err: unknown) => {
  // Configuration and lock problems are the operator's to fix: one clear line, no stack.
  if (err instanceof ConfigError || err instanceof DataDirLockedError) console.error(`Keel cannot start: ${err.message}`)
  else console.error('Keel cannot start:', err)
  process.exit(1)
})
