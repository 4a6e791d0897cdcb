import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import nodemailer from 'nodemailer'
import type { Logger } from 'pino'
import type { MailDelivery } from './mail.config.js'

/** One rendered message, as the outbox hands it to a transport. */
export interface OutgoingMail {
  /** The outbox row: the same on every attempt, so a retried message carries the same Message-ID. */
  outboxId: number
  messageId: string
  from: string
  to: string
  subject: string
  text: string
  html: string
}

/** Delivers one message or throws (the outbox retries); `close` ends its connections. */
export interface MailTransport {
  send(mail: OutgoingMail): Promise<void>
  close(): void
}

// A stalled server must not hold a worker for long; past these the attempt fails and is retried later.
const SMTP_TIMEOUTS = { connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 30_000 }

/** The transport for SMTP_URL: nodemailer over SMTP, only the log (`log:`), or `.eml` files (development). */
export function createMailTransport(delivery: MailDelivery, logger: Logger): MailTransport {
  if (delivery.kind === 'smtp') return smtpTransport(delivery.url)
  if (delivery.kind === 'files') return fileTransport(delivery.dir, logger)
  return {
    // Only who and what: the body carries a live token, which never goes to a log.
    async send(mail) {
      logger.info({ outbox_id: mail.outboxId, to: mail.to, subject: mail.subject }, 'mail not sent (SMTP_URL=log:)')
    },
    close() {},
  }
}

const envelope = (mail: OutgoingMail) => ({
  messageId: mail.messageId, from: mail.from, to: mail.to, subject: mail.subject, text: mail.text, html: mail.html,
})

function smtpTransport(url: string): MailTransport {
  const transporter = nodemailer.createTransport({ url, ...SMTP_TIMEOUTS })
  return {
    async send(mail) {
      await transporter.sendMail(envelope(mail))
    },
    close: () => transporter.close(),
  }
}

/** Development without SMTP: each message becomes an `.eml` file any mail client opens; the log gives its path. */
function fileTransport(dir: string, logger: Logger): MailTransport {
  const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' })
  return {
    async send(mail) {
      const info = await composer.sendMail(envelope(mail))
      await mkdir(dir, { recursive: true })
      const stamp = new Date().toISOString().replace(/[:.]/g, '-')
      const path = join(dir, `${stamp}-${mail.outboxId}.eml`)
      await writeFile(path, info.message as Buffer, { mode: 0o600 })
      logger.info({ outbox_id: mail.outboxId, to: mail.to, subject: mail.subject, path }, 'mail written to file')
    },
    close: () => composer.close(),
  }
}
