import { mkdtempSync, readFileSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from './config.js'

const dataDir = () => mkdtempSync(join(tmpdir(), 'keel-config-'))

describe('loadConfig', () => {
  it('applies the SPEC defaults', () => {
    const config = loadConfig({ DATA_DIR: dataDir() })
    expect(config).toMatchObject({
      env: 'development', host: '127.0.0.1', port: 8000, databaseUrl: undefined, migrateOnStart: true, algorithm: 'HS256',
      accessTokenTtlSeconds: 1800, refreshTokenTtlSeconds: 14 * 86_400, bcryptRounds: 10, corsOrigins: [],
      rateLimitPerMinute: 600, loginRateLimitPerMinute: 10, redis: undefined, firstSuperuser: undefined, logLevel: 'info', workers: 1,
    })
    expect(Object.isFrozen(config)).toBe(true)
  })

  it('converts and validates values from text', () => {
    const config = loadConfig({
      DATA_DIR: dataDir(), PORT: '9000', MIGRATE_ON_START: 'false', CORS_ORIGINS: 'https://a.example, https://b.example',
      FIRST_SUPERUSER_EMAIL: 'Root@Example.com', FIRST_SUPERUSER_PASSWORD: 'root-password', WORKERS: 'auto',
    })
    expect(config).toMatchObject({ port: 9000, migrateOnStart: false, corsOrigins: ['https://a.example', 'https://b.example'] })
    expect(config.firstSuperuser).toEqual({ email: 'root@example.com', password: 'root-password' })
    expect(config.workers).toBeGreaterThanOrEqual(1)
  })

  it.each([
    [{ PORT: 'eighty' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ BCRYPT_ROUNDS: '3' }, 'BCRYPT_ROUNDS'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ REDIS_URL: 'http://x' }, 'REDIS_URL'],
    [{ DATABASE_POOLER: 'statement' }, 'DATABASE_POOLER'],
    [{ DATABASE_REPLICA_URL: 'postgres://replica/keel' }, 'DATABASE_REPLICA_URL needs DATABASE_URL'],
    [{ DATABASE_URL: 'postgres://db/keel', DATABASE_REPLICA_URL: 'mysql://x' }, 'DATABASE_REPLICA_URL'],
    [{ READ_YOUR_WRITES: 'sometimes' }, 'READ_YOUR_WRITES'],
    [{ REDIS_SENTINELS: 'sentinel-without-port' }, 'REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: 'a:26379,b:99999' }, 'REDIS_SENTINELS'],
    [{ REDIS_SENTINELS: 'a:26379', REDIS_URL: 'redis://x' }, 'not both'],
    [{ DATABASE_LISTEN_URL: 'redis://x' }, 'DATABASE_LISTEN_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ ALGORITHM: 'none' }, 'ALGORITHM'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
    [{ FIRST_SUPERUSER_EMAIL: 'root@example.com' }, 'FIRST_SUPERUSER_PASSWORD'],
    [{ NODE_ENV: 'production' }, 'SECRET_KEY'],
    [{ NODE_ENV: 'production', SECRET_KEY: 'short' }, 'SECRET_KEY'],
    [{ NODE_ENV: 'production', SECRET_KEY: 'k'.repeat(32), BCRYPT_ROUNDS: '4' }, 'BCRYPT_ROUNDS'],
    [{ METRICS_PORT: 'ninety' }, 'METRICS_PORT'],
    [{ METRICS_PORT: '8000' }, 'METRICS_PORT'],
    [{ SHED_MAX_EVENT_LOOP_DELAY_MS: '-1' }, 'SHED_MAX_EVENT_LOOP_DELAY_MS'],
    [{ SHED_RETRY_AFTER_SECONDS: '0' }, 'SHED_RETRY_AFTER_SECONDS'],
    [{ NODE_ENV: 'production', SECRET_KEY: 'k'.repeat(32) }, 'SMTP_URL is required in production'],
    [{ NODE_ENV: 'production', SECRET_KEY: 'k'.repeat(32), SMTP_URL: 'smtp://mail.example' }, 'APP_URL is required'],
    [{ SMTP_URL: 'http://mail.example' }, 'SMTP_URL'],
    [{ APP_URL: 'ftp://app.example' }, 'APP_URL'],
    [{ REQUIRE_EMAIL_VERIFICATION: 'maybe' }, 'REQUIRE_EMAIL_VERIFICATION'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT'],
    // Keel sends OTLP over HTTP as JSON only: a gRPC or protobuf setting would otherwise be ignored silently.
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL'],
    [{ OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf' }, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'],
  ])('refuses %j with a message naming %s', (env, variable) => {
    expect(() => loadConfig({ DATA_DIR: dataDir(), ...env })).toThrow(ConfigError)
    expect(() => loadConfig({ DATA_DIR: dataDir(), ...env })).toThrow(new RegExp(variable))
  })

  it('Redis: one URL, or a master through Sentinel; a replica only with a primary', () => {
    expect(loadConfig({ DATA_DIR: dataDir(), REDIS_URL: 'redis://cache:6379' }).redis).toEqual({ url: 'redis://cache:6379' })
    expect(loadConfig({ DATA_DIR: dataDir(), REDIS_SENTINELS: 's1:26379, [::1]:26380' }).redis).toEqual({
      sentinels: [{ host: 's1', port: 26379 }, { host: '::1', port: 26380 }], name: 'mymaster',
    })
    const ha = loadConfig({ DATA_DIR: dataDir(), DATABASE_URL: 'postgres://p/keel', DATABASE_REPLICA_URL: 'postgres://r/keel', READ_YOUR_WRITES: 'false' })
    expect(ha).toMatchObject({ databaseReplicaUrl: 'postgres://r/keel', readYourWrites: false })
    expect(loadConfig({ DATA_DIR: dataDir() })).toMatchObject({ databaseReplicaUrl: undefined, readYourWrites: true })
  })

  it('metrics are off unless METRICS_PORT is set; shedding limits are in bytes, 0 = check off, loop delay 1 s in production', () => {
    expect(loadConfig({ DATA_DIR: dataDir() })).toMatchObject({
      metrics: undefined,
      loadShedding: { maxEventLoopDelayMs: 0, maxHeapUsedBytes: 0, maxRssBytes: 0, retryAfterSeconds: 5 },
    })
    expect(loadConfig({ DATA_DIR: dataDir(), NODE_ENV: 'production', SECRET_KEY: 'k'.repeat(32), SMTP_URL: 'log:' }).loadShedding.maxEventLoopDelayMs).toBe(1000)
    const config = loadConfig({ DATA_DIR: dataDir(), HOST: '0.0.0.0', METRICS_PORT: '9464', SHED_MAX_RSS_MB: '512' })
    expect(config.metrics).toEqual({ host: '0.0.0.0', port: 9464 })
    expect(config.loadShedding.maxRssBytes).toBe(512 * 1_048_576)
    expect(loadConfig({ DATA_DIR: dataDir(), METRICS_PORT: '9464', METRICS_HOST: '127.0.0.1' }).metrics).toEqual({ host: '127.0.0.1', port: 9464 })
  })

  it('tracing is on when an OTLP endpoint is set, unless OTEL_SDK_DISABLED', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).tracing).toBeUndefined()
    expect(loadConfig({ DATA_DIR: dataDir(), OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).tracing).toEqual({ serviceName: 'keel' })
    expect(loadConfig({ DATA_DIR: dataDir(), OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://collector/v1/traces', OTEL_SERVICE_NAME: 'api' }).tracing).toEqual({ serviceName: 'api' })
    expect(loadConfig({ DATA_DIR: dataDir(), OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).tracing).toBeUndefined()
  })

  it('TRUST_PROXY: the proxies\' addresses, never a blanket true or a hop count', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).trustProxy).toBe(false)
    expect(loadConfig({ DATA_DIR: dataDir(), TRUST_PROXY: '10.0.0.0/8, 127.0.0.1, loopback' }).trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1', 'loopback'])
    for (const value of ['true', '1', 'proxy.local']) {
      expect(() => loadConfig({ DATA_DIR: dataDir(), TRUST_PROXY: value })).toThrow(/TRUST_PROXY must be false or the addresses/)
    }
  })

  it('DATABASE_POOLER: as given, else transaction on a pooler\'s well-known port (6432, 6543), else session', () => {
    const pooler = (env: Record<string, string>) => loadConfig({ DATA_DIR: dataDir(), ...env }).databasePooler
    expect(pooler({})).toBe('session')
    expect(pooler({ DATABASE_URL: 'postgres://u@db:5432/keel' })).toBe('session')
    expect(pooler({ DATABASE_URL: 'postgres://u@db/keel' })).toBe('session')
    expect(pooler({ DATABASE_URL: 'postgres://u@pgbouncer:6432/keel' })).toBe('transaction')
    expect(pooler({ DATABASE_URL: 'postgresql://u@pooler.example.com:6543/keel' })).toBe('transaction')
    expect(pooler({ DATABASE_URL: 'postgres://u@pgbouncer:6432/keel', DATABASE_POOLER: 'session' })).toBe('session')
    expect(pooler({ DATABASE_URL: 'postgres://u@db:5432/keel', DATABASE_POOLER: 'transaction' })).toBe('transaction')
  })

  it('DATABASE_LISTEN_URL defaults to DATABASE_URL', () => {
    expect(loadConfig({ DATA_DIR: dataDir(), DATABASE_URL: 'postgres://u@pgbouncer:6432/keel' }).databaseListenUrl).toBe('postgres://u@pgbouncer:6432/keel')
    expect(loadConfig({ DATA_DIR: dataDir(), DATABASE_URL: 'postgres://u@pgbouncer:6432/keel', DATABASE_LISTEN_URL: 'postgres://u@db:5432/keel' }).databaseListenUrl)
      .toBe('postgres://u@db:5432/keel')
  })

  it('SHUTDOWN_DRAIN_SECONDS: 5 in production, 0 otherwise, or as given', () => {
    expect(loadConfig({ DATA_DIR: dataDir() }).shutdownDrainSeconds).toBe(0)
    expect(loadConfig({ NODE_ENV: 'production', SECRET_KEY: 'k'.repeat(32), SMTP_URL: 'log:' }).shutdownDrainSeconds).toBe(5)
    expect(loadConfig({ NODE_ENV: 'production', SECRET_KEY: 'k'.repeat(32), SHUTDOWN_DRAIN_SECONDS: '0', SMTP_URL: 'log:' }).shutdownDrainSeconds).toBe(0)
    expect(loadConfig({ DATA_DIR: dataDir(), SHUTDOWN_DRAIN_SECONDS: '2.5' }).shutdownDrainSeconds).toBe(2.5)
    expect(() => loadConfig({ DATA_DIR: dataDir(), SHUTDOWN_DRAIN_SECONDS: '-1' })).toThrow(/SHUTDOWN_DRAIN_SECONDS/)
  })

  it('accepts a strong key in production', () => {
    expect(loadConfig({ NODE_ENV: 'production', SECRET_KEY: 'k'.repeat(32), SMTP_URL: 'log:' }).secretKey).toBe('k'.repeat(32))
  })

  it('mail: .eml files in DATA_DIR by default, log: or SMTP when set; links from APP_URL', () => {
    const dir = dataDir()
    expect(loadConfig({ DATA_DIR: dir }).mail).toMatchObject({
      delivery: { kind: 'files', dir: join(dir, 'outbox') }, appUrl: 'http://localhost:3000', from: 'Keel <no-reply@localhost>',
      requireVerification: false, perIpPerMinute: 5, cooldownSeconds: 60, maxAttempts: 8, retryBaseSeconds: 30,
    })
    expect(loadConfig({ DATA_DIR: dir, SMTP_URL: 'log:' }).mail.delivery).toEqual({ kind: 'log' })
    const smtp = loadConfig({
      NODE_ENV: 'production', SECRET_KEY: 'k'.repeat(32), SMTP_URL: 'smtps://u:p@mail.example:465', APP_URL: 'https://app.example/',
      REQUIRE_EMAIL_VERIFICATION: 'true',
    }).mail
    expect(smtp).toMatchObject({
      delivery: { kind: 'smtp', url: 'smtps://u:p@mail.example:465' }, appUrl: 'https://app.example', from: 'Keel <no-reply@app.example>',
      requireVerification: true,
    })
  })

  it('in development generates a secret once and keeps it in DATA_DIR', () => {
    const dir = dataDir()
    const first = loadConfig({ DATA_DIR: dir }).secretKey
    expect(Buffer.byteLength(first)).toBeGreaterThanOrEqual(32)
    expect(loadConfig({ DATA_DIR: dir }).secretKey).toBe(first)
    expect(readFileSync(join(dir, 'secret_key'), 'utf8')).toBe(first)
    expect(statSync(join(dir, 'secret_key')).mode & 0o777).toBe(0o600)
  })
})
