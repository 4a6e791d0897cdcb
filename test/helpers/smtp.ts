import type { AddressInfo } from 'node:net'
import { simpleParser, type ParsedMail } from 'mailparser'
import { SMTPServer } from 'smtp-server'

export interface ReceivedMail {
  to: string
  from: string
  subject: string
  text: string
  html: string
  messageId: string
  parsed: ParsedMail
}

export interface TestSmtpServer {
  /** smtp://127.0.0.1:<port>, for SMTP_URL. */
  url: string
  received: ReceivedMail[]
  /** The next `n` messages are refused with a temporary failure (451) after their data arrived. */
  refuseNext(n: number): void
  /** Each message is held this long before it is accepted (a slow server). */
  setDelay(ms: number): void
  /** Resolves with the first message (already received or still to come) that matches; rejects after `timeoutMs`. */
  waitFor(match: (mail: ReceivedMail) => boolean, timeoutMs?: number): Promise<ReceivedMail>
  close(): Promise<void>
}

/**
 * A real SMTP server in the test process: Keel's nodemailer talks to it over a socket, and every message is
 * parsed back with mailparser, so tests see exactly what a mail client would.
 */
export async function startSmtpServer(): Promise<TestSmtpServer> {
  const received: ReceivedMail[] = []
  const waiters = new Set<() => void>()
  let refusals = 0
  let delayMs = 0
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, session, callback) {
      simpleParser(stream).then(async (parsed) => {
        if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs))
        if (refusals > 0) {
          refusals--
          callback(Object.assign(new Error('Try again later'), { responseCode: 451 }))
          return
        }
        const address = (a: ParsedMail['to']) => (Array.isArray(a) ? a[0] : a)?.value[0]?.address ?? ''
        received.push({
          to: address(parsed.to) || (session.envelope.rcptTo[0]?.address ?? ''),
          from: address(parsed.from as ParsedMail['to']),
          subject: parsed.subject ?? '',
          text: parsed.text ?? '',
          html: typeof parsed.html === 'string' ? parsed.html : '',
          messageId: parsed.messageId ?? '',
          parsed,
        })
        callback()
        for (const wake of waiters) wake()
      }, (err: Error) => callback(err))
    },
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.server.address() as AddressInfo
  return {
    url: `smtp://127.0.0.1:${port}`,
    received,
    refuseNext: (n) => { refusals = n },
    setDelay: (ms) => { delayMs = ms },
    waitFor(match, timeoutMs = 5_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = received.find(match)
          if (!found) return
          waiters.delete(check)
          clearTimeout(timer)
          resolve(found)
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no matching mail within ${timeoutMs} ms (received: ${received.map((m) => `${m.to} "${m.subject}"`).join(', ') || 'none'})`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

/** The token in the first link to `${appUrl}${path}?token=…` of a message's text part. */
export function linkToken(mail: ReceivedMail, path: string): string {
  const match = new RegExp(`https?://\\S+${path}\\?token=([A-Za-z0-9_-]+)`).exec(mail.text)
  if (!match) throw new Error(`no ${path} link in "${mail.subject}": ${mail.text}`)
  return match[1]!
}
