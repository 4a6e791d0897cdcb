import cluster from 'node:cluster'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import type { Logger } from 'pino'
import type { Config } from './config.js'
import type { Database } from './db/client.js'
import { createInvalidationBus, type InvalidationBus } from './db/invalidation.js'
import type { Tracing } from './tracing/tracing.js'
import { authPlugin } from './plugins/auth.js'
import { bodyParsersPlugin } from './plugins/body-parsers.js'
import { connectionClosePlugin } from './plugins/connection-close.js'
import { idempotencySweepPlugin } from './modules/idempotency/idempotency.plugin.js'
import { errorsPlugin, frameworkErrorHandler } from './plugins/errors.js'
import { inFlightPlugin } from './plugins/in-flight.js'
import { loadSheddingPlugin } from './plugins/load-shedding.js'
import { openapiPlugin } from './plugins/openapi.js'
import { rateLimitPlugin } from './plugins/rate-limit.js'
import { readRoutingPlugin } from './plugins/read-routing.js'
import { routeContractPlugin } from './plugins/route-contract.js'
import { genRequestId } from './plugins/request-id.js'
import { securityPlugin } from './plugins/security.js'
import { buildSerializer } from './plugins/serialization.js'
import { assertDecimalIdParam, buildValidator } from './plugins/validation.js'
import { createCommitPositions } from './db/commit-positions.js'
import { createCounterStore } from './shared/counter-store.js'
import { ProblemSchema } from './shared/schemas.js'
import { accountEmailRoutes } from './modules/account-email/account-email.routes.js'
import type { Clock } from './modules/account-email/email-tokens.repository.js'
import { authRoutes } from './modules/auth/auth.routes.js'
import { createAccessResolver } from './modules/auth/auth.access.js'
import { healthRoutes } from './modules/health/health.routes.js'
import { mailPlugin } from './modules/mail/mail.plugin.js'
import { eventsPlugin } from './modules/events/events.plugin.js'
import { eventsRoutes } from './modules/events/events.routes.js'
import { webhooksPlugin } from './modules/webhooks/webhooks.plugin.js'
import { webhooksRoutes } from './modules/webhooks/webhooks.routes.js'
import { createEventStats } from './modules/events/events.stats.js'
import { items } from './modules/items/items.resource.js'
import type { Resource } from './resources/define.js'
import { createUserCache, type UserCache } from './modules/users/users.cache.js'
import { usersRoutes } from './modules/users/users.routes.js'
import { createMembershipCache, type MembershipCache } from './modules/orgs/memberships.cache.js'
import { orgsRoutes } from './modules/orgs/orgs.routes.js'

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
    database: Database
    /** Users as authentication sees them; see modules/users/users.cache.ts. */
    userCache: UserCache
    /** Cross-instance invalidation a writer can wait for (db/invalidation.ts): the user cache's, and any other cache's. */
    invalidation: InvalidationBus
    /** Callers' roles in orgs, asked on every org-scoped request (cached); see modules/orgs/memberships.cache.ts. */
    memberships: MembershipCache
  }
}

export interface BuildAppOptions {
  config: Config
  database: Database
  logger: Logger
  /** Time for email tokens' expiry; tests move it forward. */
  clock?: Clock
  /** Resources beyond the registered ones (tests of the resource core). */
  resources?: readonly Resource[]
  /** With tracing on (server.ts): src/tracing/tracing.ts's plugin, registered before anything else, and its log controller. */
  tracing?: Pick<Tracing, 'plugin' | 'logController'> | undefined
}

export const BODY_LIMIT_BYTES = 1_048_576

/** Builds the Fastify app with production options and every module; never listens (server.ts does). */
export async function buildApp({ config, database, logger, clock, resources = [], tracing }: BuildAppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: logger as FastifyBaseLogger,
    ...(tracing ? { logController: tracing.logController } : {}),
    genReqId: genRequestId,
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: config.trustProxy ? [...config.trustProxy] : false,
    // Slow or idle clients cannot hold sockets for long (headersTimeout is set on the server below).
    connectionTimeout: 60_000,
    requestTimeout: 30_000,
    keepAliveTimeout: 10_000,
    // Once closing (after the drain window), a request that still arrives on an open connection is served, not
    // refused: its answer carries Connection: close (plugins/connection-close.ts), and idle connections are closed at once.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Long enough that an absurd id reaches validation (422); past it the router answers 414.
    routerOptions: { maxParamLength: 1_000 },
    frameworkErrors: frameworkErrorHandler,
    schemaController: { compilersFactory: { buildValidator: buildValidator as never, buildSerializer: buildSerializer as never } },
  }).withTypeProvider<TypeBoxTypeProvider>()
  app.server.headersTimeout = 10_000
  // First: its request span starts before every other hook, and it must see every route as it is declared.
  if (tracing) await app.register(tracing.plugin)

  app.addHook('preValidation', async (request) => assertDecimalIdParam(request.params))
  app.decorate('config', config)
  app.decorate('database', database)
  app.addSchema(ProblemSchema)

  const counterStore = await createCounterStore(config.redis, logger, cluster.isWorker)
  const invalidation = createInvalidationBus(database, { logger })
  const userCache = await createUserCache(database, invalidation)
  app.decorate('invalidation', invalidation)
  app.decorate('userCache', userCache)
  const memberships = await createMembershipCache(database, invalidation)
  app.decorate('memberships', memberships)
  // Read-your-writes needs positions only with a replica to read from, and only when not switched off.
  const positions = database.hasReplica && config.readYourWrites ? await createCommitPositions(config.redis, logger) : undefined
  app.addHook('onClose', async () => {
    await counterStore.close()
    await userCache.close()
    await memberships.close()
    await positions?.close()
  })

  const eventStats = createEventStats()
  if (config.metrics) {
    // Loaded only when on: with METRICS_PORT unset prom-client is never imported and requests pay nothing.
    const { metricsPlugin } = await import('./plugins/metrics/metrics.plugin.js')
    await app.register(metricsPlugin, { poolStats: database.poolStats, userCacheStats: userCache.stats, eventStats: () => eventStats })
  }
  await app.register(inFlightPlugin)
  if (database.engine === 'postgres') await app.register(readRoutingPlugin, { positions })
  await app.register(connectionClosePlugin)
  await app.register(errorsPlugin)
  await app.register(loadSheddingPlugin, config.loadShedding)
  await app.register(securityPlugin, { corsOrigins: config.corsOrigins })
  await app.register(bodyParsersPlugin)
  await app.register(rateLimitPlugin, { store: counterStore, perMinute: config.rateLimitPerMinute })
  // After the security headers and the rate limit (its refusals carry both), before every route (it documents them).
  await app.register(routeContractPlugin)
  await app.register(openapiPlugin)
  await app.register(mailPlugin)
  await app.register(idempotencySweepPlugin)
  const allResources = [items, ...resources]
  await app.register(webhooksPlugin, { resources: allResources, stats: eventStats })
  await app.register(eventsPlugin, { resources: allResources, stats: eventStats, onHorizon: (horizon) => app.webhooks.fanOut(horizon) })

  await app.register(healthRoutes)
  await app.register(async (api) => {
    await api.register(authPlugin, { resolveUser: createAccessResolver(database.db, config, userCache) })
    await api.register(accountEmailRoutes, { counterStore, clock })
    await api.register(authRoutes, { prefix: '/auth', counterStore })
    await api.register(usersRoutes, { prefix: '/users', counterStore })
    await api.register(orgsRoutes, { cache: memberships, clock })
    await api.register(items.routes)
    for (const resource of resources) await api.register(resource.routes)
    await api.register(eventsRoutes, { resourceNames: allResources.map((r) => r.name) })
    await api.register(webhooksRoutes, { resourceNames: allResources.map((r) => r.name) })
  }, { prefix: '/api/v1' })

  return app
}
