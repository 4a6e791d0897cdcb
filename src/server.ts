import cluster, { type Worker } from 'node:cluster'
import type { FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import { ConfigError, loadConfig, type Config } from './config.js'
import type { Database } from './db/client.js'
import type { RefreshTokensRepository } from './modules/auth/refresh-tokens.repository.js'
import type { MetricsSource } from './plugins/metrics/metrics-server.js'
import type { Tracing } from './tracing/tracing.js'
import { DataDirLockedError } from './db/data-dir-lock.js'
import { createLogger } from './logger.js'
import { serveClusterCounters } from './shared/cluster-counter-store.js'
import { createMemoryCounterStore } from './shared/counter-store.js'
import { loadEnvFile } from './shared/env-file.js'

// Everything else is imported where it is needed: loading modules is most of a start-up, and a cluster primary
// forks its workers first, then loads what preparing the database takes while they load the app.

const HOUR_MS = 3_600_000

/** Start-up: config, database, migrations, first superuser, app, listen; SIGTERM/SIGINT drain (SPEC §7) and exit 0. */
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
  // From the first moment, so a signal during start-up drains once started instead of killing the process.
  // `on`, not `once`: the same signal often arrives twice (from npm passing it on, and to the whole process
  // group from systemd or a terminal), and a second one must not fall back to the default, killing action.
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    process.on('SIGTERM', () => resolve('SIGTERM'))
    process.on('SIGINT', () => resolve('SIGINT'))
  })
  // Before the database module: the pg instrumentation patches pg as it loads.
  const tracing = config.tracing ? (await import('./tracing/tracing.js')).startTracing(config.tracing) : undefined
  const { createDatabase } = await import('./db/client.js')
  const database = await createDatabase({
    databaseUrl: config.databaseUrl, dataDir: config.dataDir, pooler: config.databasePooler, listenUrl: config.databaseListenUrl,
    replicaUrl: config.databaseReplicaUrl, logger,
  })
  const { app, tokens } = await listen(config, database, logger, tracing)
  logger.info({ engine: database.engine, startup_ms: Math.round(performance.now() - started) }, `Keel ready: docs at http://${config.host}:${config.port}/docs`)

  const sweeper = setInterval(() => {
    tokens.sweepExpired().catch((err: unknown) => logger.warn({ err }, 'expired refresh token clean-up failed'))
  }, HOUR_MS)
  sweeper.unref()

  const signal = await signalled
  clearInterval(sweeper)
  try {
    await drainAndClose(app, config, logger, signal)
    await database.close()
    // The last spans are still buffered: send them before exiting.
    await tracing?.shutdown()
  } catch (err) {
    logger.error({ err }, 'unclean shutdown')
    process.exit(1)
  }
  logger.info('stopped')
  logger.flush?.()
  process.exit(0)
}

/** Prepares the database (unless a cluster primary did), builds the app and listens; closes both on failure. */
async function listen(
  config: Config, database: Database, logger: Logger, tracing: Tracing | undefined,
): Promise<{ app: FastifyInstance; tokens: RefreshTokensRepository }> {
  let app: FastifyInstance | undefined
  try {
    if (cluster.isPrimary) await prepareDatabase(config, database, logger)
    const [{ buildApp }, { createRefreshTokensRepository }] = await Promise.all([
      import('./app.js'), import('./modules/auth/refresh-tokens.repository.js'),
    ])
    app = await buildApp({ config, database, logger, tracing })
    if (cluster.isWorker) await databasePrepared()
    await app.listen({ host: config.host, port: config.port })
    // A worker's figures are served by the primary, summed (runPrimary).
    if (config.metrics && app.metrics && cluster.isPrimary) await startMetrics(config.metrics, logger, app.metrics)
    return { app, tokens: createRefreshTokensRepository(database.db) }
  } catch (err) {
    await app?.close()
    await database.close()
    throw err
  }
}

const IN_FLIGHT_GRACE_MS = 10_000

/**
 * SPEC §7 drain: /readyz turns 503 at once and every answer carries `Connection: close` while the server still
 * accepts and serves for SHUTDOWN_DRAIN_SECONDS (the load balancer's health checks notice and move traffic away);
 * then it stops accepting, closes idle connections and waits for the requests in flight, their answers written
 * before their sockets close. Only a request still running IN_FLIGHT_GRACE_MS later loses its connection.
 */
async function drainAndClose(app: FastifyInstance, config: Config, logger: Logger, signal: NodeJS.Signals): Promise<void> {
  app.beginDrain()
  logger.info({ signal, drain_seconds: config.shutdownDrainSeconds }, 'stopping: draining (readiness is 503)')
  await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainSeconds * 1_000))
  logger.info('stopping: no new connections, finishing in-flight requests')
  const force = setTimeout(() => {
    logger.warn({ grace_ms: IN_FLIGHT_GRACE_MS }, 'requests still in flight after the grace period: closing their connections')
    app.server.closeAllConnections()
  }, IN_FLIGHT_GRACE_MS)
  try {
    await app.close()
    // A handler whose client hung up is not holding a connection, but it may still be writing.
    await app.waitForHandlers(IN_FLIGHT_GRACE_MS)
  } finally {
    clearTimeout(force)
  }
}

const DATABASE_READY = { type: 'keel:database-ready' }
const AWAIT_DATABASE = 'keel:await-database'

/**
 * The cluster primary forks the workers at once and prepares the database while they load and build the app
 * (node:cluster shares the listening socket); a worker listens only once the primary says the database is
 * ready. It restarts a worker that dies, forwards SIGTERM/SIGINT and exits 0 once every worker has drained.
 */
async function runPrimary(config: Config, logger: Logger): Promise<void> {
  let stopping = false
  let prepared = false
  const waiting = new Set<Worker>()
  const counters = createMemoryCounterStore()
  const fork = () => {
    const worker = cluster.fork()
    serveClusterCounters(worker, counters, config.workers)
    worker.on('message', (message: { type?: string } | undefined) => {
      if (message?.type !== AWAIT_DATABASE) return
      if (prepared) worker.send(DATABASE_READY)
      else waiting.add(worker)
    })
  }
  for (let i = 0; i < config.workers; i++) fork()
  cluster.on('exit', (worker, code, signal) => {
    waiting.delete(worker)
    if (stopping) {
      if (code !== 0) process.exitCode = 1
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(process.exitCode ?? 0)
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
  // `on`, not `once`: see startServer.
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  logger.info({ workers: config.workers }, 'cluster primary started')
  if (config.metrics) await startMetrics(config.metrics, logger)

  try {
    const { createDatabase } = await import('./db/client.js')
    const database = await createDatabase({ databaseUrl: config.databaseUrl, pooler: config.databasePooler, logger })
    try {
      await prepareDatabase(config, database, logger)
    } finally {
      await database.close()
    }
  } catch (err) {
    // Nothing may serve on a database that could not be prepared.
    process.exitCode = 1
    stop('SIGTERM')
    throw err
  }
  prepared = true
  for (const worker of waiting) if (worker.isConnected()) worker.send(DATABASE_READY)
  waiting.clear()
}

/** In a cluster worker: resolves once the primary has prepared the database (see runPrimary). */
function databasePrepared(): Promise<void> {
  return new Promise((resolve) => {
    const onMessage = (message: { type?: string } | undefined) => {
      if (message?.type !== DATABASE_READY.type) return
      process.off('message', onMessage)
      resolve()
    }
    process.on('message', onMessage)
    process.send!({ type: AWAIT_DATABASE })
  })
}

/** GET /metrics on its own port: this process's registry, or (no source: the primary) the sum over workers. */
async function startMetrics(at: NonNullable<Config['metrics']>, logger: Logger, source?: MetricsSource): Promise<void> {
  const { startMetricsServer, clusterMetricsSource } = await import('./plugins/metrics/metrics-server.js')
  await startMetricsServer(at.host, at.port, source ?? clusterMetricsSource(), logger)
}

async function prepareDatabase(config: Config, database: Database, logger: Logger): Promise<void> {
  const [{ createMigrator }, { createRefreshTokensRepository }, { createUsersService }] = await Promise.all([
    import('./db/migrator.js'), import('./modules/auth/refresh-tokens.repository.js'), import('./modules/users/users.service.js'),
  ])
  if (config.migrateOnStart) {
    const applied = await createMigrator(database).migrate()
    if (applied.length) logger.info({ applied }, 'migrations applied')
  }
  await createRefreshTokensRepository(database.db).sweepExpired()
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
