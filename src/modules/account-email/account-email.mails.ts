import type { MailConfig } from '../mail/mail.config.js'
import type { OutboxMessage } from '../mail/mail-outbox.repository.js'
import {
  emailChangeMail, emailChangeNoticeMail, passwordChangedMail, passwordResetMail, verifyEmailMail,
} from '../mail/mail.templates.js'

/** Lifetimes of the links (SPEC §6: 30 minutes for a reset, 24 hours for an email change). */
export const TOKEN_TTL_SECONDS = {
  password_reset: 30 * 60,
  email_verification: 24 * 3600,
  email_change: 24 * 3600,
} as const

/** The messages of each flow, with links built from APP_URL only (never from a request's Host header). */
export function createAccountMails(config: Pick<MailConfig, 'appUrl' | 'appName'>) {
  const product = { appName: config.appName }
  const link = (path: string, token: string) => `${config.appUrl}/${path}?token=${token}`
  const minutes = (seconds: number) => seconds / 60
  return {
    passwordReset: (to: string, token: string): OutboxMessage =>
      ({ to, ...passwordResetMail(product, link('reset-password', token), minutes(TOKEN_TTL_SECONDS.password_reset)) }),
    passwordChanged: (to: string): OutboxMessage => ({ to, ...passwordChangedMail(product) }),
    verifyEmail: (to: string, token: string): OutboxMessage =>
      ({ to, ...verifyEmailMail(product, link('verify-email', token), minutes(TOKEN_TTL_SECONDS.email_verification)) }),
    emailChange: (to: string, token: string): OutboxMessage =>
      ({ to, ...emailChangeMail(product, link('confirm-email-change', token), minutes(TOKEN_TTL_SECONDS.email_change)) }),
    emailChangeNotice: (to: string, newEmail: string): OutboxMessage => ({ to, ...emailChangeNoticeMail(product, newEmail) }),
  }
}

export type AccountMails = ReturnType<typeof createAccountMails>
