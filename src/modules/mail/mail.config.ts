import { join } from 'node:path'
import type { Env } from '../../config.js'
import { ConfigError } from '../../config.js'

/** Where messages go: an SMTP server, the log only (`SMTP_URL=log:`), or `.eml` files (development default). */
export type MailDelivery =
  | { readonly kind: 'smtp'; readonly url: string }
  | { readonly kind: 'log' }
  | { readonly kind: 'files'; readonly dir: string }

export interface MailConfig {
  readonly delivery: MailDelivery
  /** The front end's base URL, without a trailing slash: every link is built from it, never from a request. */
  readonly appUrl: string
  readonly appName: string
  readonly from: string
  readonly requireVerification: boolean
  /** Recovery and resend requests per client IP per minute (429 beyond). */
  readonly perIpPerMinute: number
  /** A second request for one address within this window is answered the same and sends nothing. */
  readonly cooldownSeconds: number
  readonly maxAttempts: number
  readonly retryBaseSeconds: number
}

const DEV_APP_URL = 'http://localhost:3000'

/**
 * Production needs a real decision about mail: an SMTP server, or the explicit `log:` (no mail at all).
 * Links to a development default would send real users to localhost, so APP_URL is required with SMTP.
 */
export function resolveMailConfig(e: Env, isProduction: boolean, dataDir: string): MailConfig {
  if (isProduction && !e.SMTP_URL) {
    throw new ConfigError('Invalid configuration: SMTP_URL is required in production (smtp://… or smtps://…; SMTP_URL=log: to only log messages)')
  }
  if (isProduction && e.SMTP_URL !== 'log:' && !e.APP_URL) {
    throw new ConfigError('Invalid configuration: APP_URL is required in production with SMTP_URL (the front end\'s base URL, used in every link)')
  }
  const delivery: MailDelivery = !e.SMTP_URL ? { kind: 'files', dir: join(dataDir, 'outbox') }
    : e.SMTP_URL === 'log:' ? { kind: 'log' } : { kind: 'smtp', url: e.SMTP_URL }
  const appUrl = (e.APP_URL ?? DEV_APP_URL).replace(/\/+$/, '')
  return Object.freeze({
    delivery: Object.freeze(delivery),
    appUrl,
    appName: e.APP_NAME,
    from: e.MAIL_FROM ?? `${e.APP_NAME} <no-reply@${new URL(appUrl).hostname}>`,
    requireVerification: e.REQUIRE_EMAIL_VERIFICATION,
    perIpPerMinute: e.EMAIL_RATE_LIMIT_PER_MINUTE,
    cooldownSeconds: e.EMAIL_COOLDOWN_SECONDS,
    maxAttempts: e.MAIL_MAX_ATTEMPTS,
    retryBaseSeconds: e.MAIL_RETRY_BASE_SECONDS,
  })
}
