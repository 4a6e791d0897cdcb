import cluster from 'node:cluster'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { ConfigError, loadConfig, type Config } from './config.js'
import { createDatabase, type Database } from './db/client.js'
import { DataDirLockedError } from './db/data-dir-lock.js'
import { createMigrator } from './db/migrator.js'
import { createLogger } from './logger.js'
import { serveClusterCounters } from './shared/cluster-counter-store.js'
import { createMemoryCounterStore } from './shared/counter-store.js'
import { createRefreshTokensRepository } from './modules/auth/refresh-tokens.repository.js'
import { createUsersService } from './modules/users/users.service.js'
import { loadEnvFile } from './shared/env-file.js'

const HOUR_MS = 3_600_000

/** Start-up: config, database, migrations, first superuser, app, listen; SIGTERM/SIGINT drain and exit 0. */
async function main(): Promise<void> {
  loadEnvFile()
  const config = loadConfig()
  const logger = createLogger(config.logLevel)
  if (cluster.isPrimary && config.workers > 1) {
    if (config.databaseUrl) return runPrimary(config, logger)
    logger.warn({ workers: config.workers }, 'WORKERS > 1 needs DATABASE_URL: the embedded database serves one process, running one')
  }
  return startServer(config, logger)
}

/** One process serving HTTP: the only one, or a cluster worker (the primary already prepared the database). */
async function startServer(config: Config, logger: Logger): Promise<void> {
  const started = performance.now()
  const database = await createDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, logger })
  let app: FastifyInstance | undefined
  try {
    if (cluster.isPrimary) await prepareDatabase(config, database, logger)
    // Imported here, not at the top: a cluster primary never serves HTTP and should start light.
    const { buildApp } = await import('./app.js')
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
      .then(() => app!.waitForHandlers(10_000))
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

/**
 * The cluster primary prepares the database once, forks the workers (node:cluster shares the listening
 * socket), restarts a worker that dies, forwards SIGTERM/SIGINT and exits 0 once every worker has drained.
 */
async function runPrimary(config: Config, logger: Logger): Promise<void> {
  const database = await createDatabase({ databaseUrl: config.databaseUrl, logger })
  try {
    await prepareDatabase(config, database, logger)
  } finally {
    await database.close()
  }
  let stopping = false
  const counters = createMemoryCounterStore()
  const fork = () => serveClusterCounters(cluster.fork(), counters, config.workers)
  for (let i = 0; i < config.workers; i++) fork()
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
      return
    }
    logger.error({ pid: worker.process.pid, code, signal }, 'worker died: starting another')
    fork()
  })
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return
    stopping = true
    logger.info({ signal, workers: config.workers }, 'stopping workers')
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill(signal)
  }
  process.once('SIGTERM', () => stop('SIGTERM'))
  process.once('SIGINT', () => stop('SIGINT'))
  logger.info({ workers: config.workers }, 'cluster primary started')
}

async function prepareDatabase(config: Config, database: Database, logger: Logger): Promise<void> {
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

main().catch((err: unknown) => {
  // Configuration and lock problems are the operator's to fix: one clear line, no stack.
  if (err instanceof ConfigError || err instanceof DataDirLockedError) console.error(`Keel cannot start: ${err.message}`)
  else console.error('Keel cannot start:', err)
  process.exit(1)
})
