import { ConfigError, type Env } from '../../config.js'

export interface EventsConfig {
  /** Events are kept this long: the window Last-Event-ID can resume within. */
  readonly retentionHours: number
  readonly webhooks: {
    /** Loopback, private and link-local targets and plain http: refused unless this is set (development, tests). */
    readonly allowPrivate: boolean
    readonly maxAttempts: number
    /** First retry after this long, doubling on each failure (capped at an hour). */
    readonly retryBaseSeconds: number
    readonly timeoutMs: number
    /** An endpoint is disabled after this many failed attempts in a row. */
    readonly disableAfterFailures: number
  }
}

/** WEBHOOK_ALLOW_PRIVATE is refused in production: it would let any user make Keel call its internal network. */
export function resolveEventsConfig(e: Env, isProduction: boolean): EventsConfig {
  if (e.WEBHOOK_ALLOW_PRIVATE && isProduction) {
    throw new ConfigError('Invalid configuration: WEBHOOK_ALLOW_PRIVATE must not be true in production (webhooks could reach internal addresses)')
  }
  return Object.freeze({
    retentionHours: e.EVENT_RETENTION_HOURS,
    webhooks: Object.freeze({
      allowPrivate: e.WEBHOOK_ALLOW_PRIVATE,
      maxAttempts: e.WEBHOOK_MAX_ATTEMPTS,
      retryBaseSeconds: e.WEBHOOK_RETRY_BASE_SECONDS,
      timeoutMs: e.WEBHOOK_TIMEOUT_SECONDS * 1_000,
      disableAfterFailures: e.WEBHOOK_DISABLE_AFTER_FAILURES,
    }),
  })
}
