import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { isIP } from 'node:net'
import { availableParallelism } from 'node:os'
import { Type, type Static } from 'typebox'
import { Value } from 'typebox/value'
import { resolvePooler, type DatabasePooler } from './db/poolers.js'
import { resolveEventsConfig, type EventsConfig } from './modules/events/events.config.js'
import { resolveMailConfig, type MailConfig } from './modules/mail/mail.config.js'
import { parseSentinels, type RedisTarget } from './shared/redis.js'

const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8000 }),
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATABASE_POOLER: Type.Optional(Type.Union([Type.Literal('session'), Type.Literal('transaction')])),
  DATABASE_LISTEN_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  // High availability (SPEC §10, docs/deploy.md): GETs read from replicas, each caller seeing its own writes.
  DATABASE_REPLICA_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  READ_YOUR_WRITES: Type.Boolean({ default: true }),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  MIGRATE_ON_START: Type.Boolean({ default: true }),
  SECRET_KEY: Type.Optional(Type.String({ minLength: 1 })),
  ALGORITHM: Type.Union([Type.Literal('HS256'), Type.Literal('HS384'), Type.Literal('HS512')], { default: 'HS256' }),
  ACCESS_TOKEN_EXPIRE_MINUTES: Type.Integer({ minimum: 1, maximum: 1440, default: 30 }),
  REFRESH_TOKEN_EXPIRE_DAYS: Type.Integer({ minimum: 1, maximum: 365, default: 14 }),
  BCRYPT_ROUNDS: Type.Integer({ minimum: 4, maximum: 15, default: 10 }),
  CORS_ORIGINS: Type.String({ default: '' }),
  RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 1, default: 600 }),
  LOGIN_RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 1, default: 10 }),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  REDIS_SENTINELS: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_SENTINEL_NAME: Type.String({ minLength: 1, default: 'mymaster' }),
  FIRST_SUPERUSER_EMAIL: Type.Optional(Type.String({ format: 'email' })),
  FIRST_SUPERUSER_PASSWORD: Type.Optional(Type.String({ minLength: 8 })),
  TRUST_PROXY: Type.String({ default: 'false' }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  WORKERS: Type.Union([Type.Literal('auto'), Type.Integer({ minimum: 1, maximum: 256 })], { default: 1 }),
  SHUTDOWN_DRAIN_SECONDS: Type.Optional(Type.Number({ minimum: 0, maximum: 300 })),
  // Operations (docs/operations.md): the metrics listener and load-shedding limits (0 = that check off).
  METRICS_PORT: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535 })),
  METRICS_HOST: Type.Optional(Type.String({ minLength: 1 })),
  SHED_MAX_EVENT_LOOP_DELAY_MS: Type.Optional(Type.Integer({ minimum: 0 })),
  SHED_MAX_HEAP_USED_MB: Type.Integer({ minimum: 0, default: 0 }),
  SHED_MAX_RSS_MB: Type.Integer({ minimum: 0, default: 0 }),
  SHED_RETRY_AFTER_SECONDS: Type.Integer({ minimum: 1, maximum: 3600, default: 5 }),
  // Tracing (off unless an endpoint is set): the OpenTelemetry variables, read by the exporter itself too.
  OTEL_EXPORTER_OTLP_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://' })),
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://' })),
  OTEL_EXPORTER_OTLP_PROTOCOL: Type.Optional(Type.Literal('http/json')),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: Type.Optional(Type.Literal('http/json')),
  OTEL_SERVICE_NAME: Type.String({ minLength: 1, default: 'keel' }),
  OTEL_SDK_DISABLED: Type.Boolean({ default: false }),
  // Account email (SPEC §6); see src/modules/mail/mail.config.ts.
  SMTP_URL: Type.Optional(Type.String({ pattern: '^(smtps?://.+|log:)$' })),
  APP_URL: Type.Optional(Type.String({ pattern: '^https?://[^/?#]+(/[^?#]*)?$' })),
  APP_NAME: Type.String({ minLength: 1, maxLength: 100, default: 'Keel' }),
  MAIL_FROM: Type.Optional(Type.String({ minLength: 3, maxLength: 320 })),
  REQUIRE_EMAIL_VERIFICATION: Type.Boolean({ default: false }),
  EMAIL_RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 1, default: 5 }),
  EMAIL_COOLDOWN_SECONDS: Type.Integer({ minimum: 0, maximum: 86_400, default: 60 }),
  MAIL_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 100, default: 8 }),
  MAIL_RETRY_BASE_SECONDS: Type.Number({ minimum: 0, maximum: 3_600, default: 30 }),
  // Events and webhooks (SPEC §11); see src/modules/events/events.config.ts.
  EVENT_RETENTION_HOURS: Type.Number({ minimum: 1, maximum: 8_760, default: 24 }),
  WEBHOOK_ALLOW_PRIVATE: Type.Boolean({ default: false }),
  WEBHOOK_MAX_ATTEMPTS: Type.Integer({ minimum: 1, maximum: 100, default: 10 }),
  WEBHOOK_RETRY_BASE_SECONDS: Type.Number({ minimum: 0, maximum: 3_600, default: 10 }),
  WEBHOOK_TIMEOUT_SECONDS: Type.Number({ minimum: 1, maximum: 60, default: 10 }),
  WEBHOOK_DISABLE_AFTER_FAILURES: Type.Integer({ minimum: 1, maximum: 10_000, default: 50 }),
})

export type Env = Static<typeof EnvSchema>

/** Typed, validated settings. Built once by server.ts (or the test helper) and passed down; never a module singleton. */
export interface Config {
  readonly env: Env['NODE_ENV']
  readonly isProduction: boolean
  readonly host: string
  readonly port: number
  readonly databaseUrl: string | undefined
  /** What DATABASE_URL connects through; `transaction` uses no named prepared statements (db/poolers.ts). */
  readonly databasePooler: DatabasePooler
  /** The session connection for LISTEN: DATABASE_LISTEN_URL, else DATABASE_URL. */
  readonly databaseListenUrl: string | undefined
  /** DATABASE_REPLICA_URL: where GETs read (db/router.ts); undefined = everything on DATABASE_URL. */
  readonly databaseReplicaUrl: string | undefined
  /** With a replica: a caller's reads wait for (or skip) a replica that has not replayed its last write. Off only to show what it prevents. */
  readonly readYourWrites: boolean
  readonly dataDir: string
  readonly migrateOnStart: boolean
  readonly secretKey: string
  readonly algorithm: Env['ALGORITHM']
  readonly accessTokenTtlSeconds: number
  readonly refreshTokenTtlSeconds: number
  readonly bcryptRounds: number
  readonly corsOrigins: readonly string[]
  readonly rateLimitPerMinute: number
  readonly loginRateLimitPerMinute: number
  /** The shared Redis (REDIS_URL, or REDIS_SENTINELS + REDIS_SENTINEL_NAME); undefined = in-process counters. */
  readonly redis: RedisTarget | undefined
  readonly firstSuperuser: { readonly email: string; readonly password: string } | undefined
  /** false, or the addresses/CIDRs of the proxies in front of Keel (Fastify `trustProxy`). */
  readonly trustProxy: false | readonly string[]
  readonly logLevel: string
  readonly workers: number
  /** After SIGTERM: how long /readyz answers 503 while requests are still served (SPEC §7); then the server closes. */
  readonly shutdownDrainSeconds: number
  /** Where GET /metrics is served: never the public port; undefined = metrics off (prom-client not loaded). */
  readonly metrics: { readonly host: string; readonly port: number } | undefined
  readonly loadShedding: LoadSheddingLimits
  /** OpenTelemetry traces: on when an OTLP endpoint is set (src/tracing/tracing.ts); undefined = off, the SDK never loaded. */
  readonly tracing: { readonly serviceName: string } | undefined
  readonly mail: MailConfig
  readonly events: EventsConfig
}

/** Past any non-zero limit new requests get 503 + Retry-After (plugins/load-shedding.ts). */
export interface LoadSheddingLimits {
  readonly maxEventLoopDelayMs: number
  readonly maxHeapUsedBytes: number
  readonly maxRssBytes: number
  readonly retryAfterSeconds: number
}

/** Raised for bad configuration: one message naming the variable, printed without a stack by server.ts. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

const MIN_SECRET_BYTES = 32

/**
 * Reads, validates and freezes the configuration from `env`.
 * In development a missing SECRET_KEY is generated once and kept in DATA_DIR so tokens survive restarts;
 * production refuses to start without a strong one.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = env[key]
    if (value !== undefined && value !== '') raw[key] = value
  }
  const parsed = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw))
  const firstError = Value.Errors(EnvSchema, parsed)[0]
  if (firstError) {
    const name = firstError.instancePath.replace(/^\//, '') || String(Object.values(firstError.params)[0] ?? '')
    throw new ConfigError(`Invalid configuration: ${name} ${firstError.message} (got ${JSON.stringify(raw[name] ?? null)})`)
  }
  const e = parsed as Env
  const isProduction = e.NODE_ENV === 'production'
  const dataDir = resolve(e.DATA_DIR)

  if (isProduction && e.BCRYPT_ROUNDS < 10) throw new ConfigError('Invalid configuration: BCRYPT_ROUNDS must be at least 10 in production')
  if (Boolean(e.FIRST_SUPERUSER_EMAIL) !== Boolean(e.FIRST_SUPERUSER_PASSWORD)) {
    throw new ConfigError('Invalid configuration: FIRST_SUPERUSER_EMAIL and FIRST_SUPERUSER_PASSWORD must be set together')
  }
  if (e.FIRST_SUPERUSER_PASSWORD && Buffer.byteLength(e.FIRST_SUPERUSER_PASSWORD) > 72) {
    throw new ConfigError('Invalid configuration: FIRST_SUPERUSER_PASSWORD must be at most 72 bytes')
  }

  if (e.DATABASE_REPLICA_URL && !e.DATABASE_URL) {
    throw new ConfigError('Invalid configuration: DATABASE_REPLICA_URL needs DATABASE_URL (the embedded database has no replicas)')
  }
  const workers = e.WORKERS === 'auto' ? availableParallelism() : e.WORKERS
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT === e.PORT) {
    throw new ConfigError('Invalid configuration: METRICS_PORT must differ from PORT (metrics are never served on the public port)')
  }
  const MB = 1_048_576
  return Object.freeze({
    env: e.NODE_ENV,
    isProduction,
    host: e.HOST,
    port: e.PORT,
    databaseUrl: e.DATABASE_URL,
    databasePooler: resolvePooler(e.DATABASE_POOLER, e.DATABASE_URL),
    databaseListenUrl: e.DATABASE_LISTEN_URL ?? e.DATABASE_URL,
    databaseReplicaUrl: e.DATABASE_URL ? e.DATABASE_REPLICA_URL : undefined,
    readYourWrites: e.READ_YOUR_WRITES,
    dataDir,
    migrateOnStart: e.MIGRATE_ON_START,
    secretKey: resolveSecretKey(e.SECRET_KEY, isProduction, dataDir),
    algorithm: e.ALGORITHM,
    accessTokenTtlSeconds: e.ACCESS_TOKEN_EXPIRE_MINUTES * 60,
    refreshTokenTtlSeconds: e.REFRESH_TOKEN_EXPIRE_DAYS * 86_400,
    bcryptRounds: e.BCRYPT_ROUNDS,
    corsOrigins: Object.freeze(e.CORS_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean)),
    rateLimitPerMinute: e.RATE_LIMIT_PER_MINUTE,
    loginRateLimitPerMinute: e.LOGIN_RATE_LIMIT_PER_MINUTE,
    redis: resolveRedis(e),
    firstSuperuser: e.FIRST_SUPERUSER_EMAIL && e.FIRST_SUPERUSER_PASSWORD
      ? Object.freeze({ email: e.FIRST_SUPERUSER_EMAIL.toLowerCase(), password: e.FIRST_SUPERUSER_PASSWORD })
      : undefined,
    trustProxy: parseTrustProxy(e.TRUST_PROXY),
    logLevel: e.LOG_LEVEL,
    workers,
    // A load balancer needs a few health checks to notice /readyz turned 503; locally nobody is watching.
    shutdownDrainSeconds: e.SHUTDOWN_DRAIN_SECONDS ?? (isProduction ? 5 : 0),
    metrics: e.METRICS_PORT === undefined ? undefined : Object.freeze({ host: e.METRICS_HOST ?? e.HOST, port: e.METRICS_PORT }),
    loadShedding: Object.freeze({
      // On in production only: in development and tests the embedded engine's WebAssembly runs on the event loop,
      // and one long query on a busy machine (or a debugger pause) would shed the next second of requests.
      maxEventLoopDelayMs: e.SHED_MAX_EVENT_LOOP_DELAY_MS ?? (isProduction ? 1000 : 0),
      maxHeapUsedBytes: e.SHED_MAX_HEAP_USED_MB * MB,
      maxRssBytes: e.SHED_MAX_RSS_MB * MB,
      retryAfterSeconds: e.SHED_RETRY_AFTER_SECONDS,
    }),
    tracing: (e.OTEL_EXPORTER_OTLP_ENDPOINT || e.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) && !e.OTEL_SDK_DISABLED
      ? Object.freeze({ serviceName: e.OTEL_SERVICE_NAME })
      : undefined,
    mail: resolveMailConfig(e, isProduction, dataDir),
    events: resolveEventsConfig(e, isProduction),
  })
}

function resolveRedis(e: Env): RedisTarget | undefined {
  if (!e.REDIS_SENTINELS) return e.REDIS_URL ? Object.freeze({ url: e.REDIS_URL }) : undefined
  if (e.REDIS_URL) throw new ConfigError('Invalid configuration: set REDIS_URL or REDIS_SENTINELS, not both')
  const sentinels = parseSentinels(e.REDIS_SENTINELS)
  if (!sentinels) {
    throw new ConfigError(`Invalid configuration: REDIS_SENTINELS must be host:port[,host:port…] (got ${JSON.stringify(e.REDIS_SENTINELS)})`)
  }
  return Object.freeze({ sentinels: Object.freeze(sentinels), name: e.REDIS_SENTINEL_NAME })
}

function resolveSecretKey(given: string | undefined, isProduction: boolean, dataDir: string): string {
  if (given !== undefined) {
    if (isProduction && Buffer.byteLength(given) < MIN_SECRET_BYTES) {
      throw new ConfigError(`Invalid configuration: SECRET_KEY must be at least ${MIN_SECRET_BYTES} bytes in production`)
    }
    return given
  }
  if (isProduction) throw new ConfigError('Invalid configuration: SECRET_KEY is required in production (at least 32 bytes)')
  const file = join(dataDir, 'secret_key')
  try {
    return readFileSync(file, 'utf8').trim()
  } catch {
    mkdirSync(dataDir, { recursive: true })
    const key = randomBytes(48).toString('base64url')
    // 'wx' so two processes starting together cannot overwrite each other's key; the loser reads the winner's.
    try {
      writeFileSync(file, key, { flag: 'wx', mode: 0o600 })
      return key
    } catch {
      return readFileSync(file, 'utf8').trim()
    }
  }
}

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal'])
const isAddressOrCidr = (v: string) => {
  const [address = '', bits, ...rest] = v.split('/')
  return PROXY_NAMES.has(v) || (isIP(address) !== 0 && rest.length === 0 && (bits === undefined || /^\d{1,3}$/.test(bits)))
}

/**
 * Only X-Forwarded-For entries added by the listed proxies are believed. `true` (or a hop count, which Fastify
 * refuses to honour) would let any client forge its address and dodge every per-IP limit.
 */
function parseTrustProxy(value: string): false | readonly string[] {
  if (value === 'false') return false
  const list = value.split(',').map((v) => v.trim()).filter(Boolean)
  if (!list.length || !list.every(isAddressOrCidr)) {
    throw new ConfigError('Invalid configuration: TRUST_PROXY must be false or the addresses/CIDRs of your proxies '
      + `(e.g. 10.0.0.0/8, or loopback); got ${JSON.stringify(value)}. true is refused: it would trust a forged X-Forwarded-For`)
  }
  return Object.freeze(list)
}
