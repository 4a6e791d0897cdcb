import { mkdtempSync, readdirSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { eq, inArray } from 'drizzle-orm'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Database } from '../../db/client.js'
import { createMigrator } from '../../db/migrator.js'
import { createTestDatabase } from '../../../test/helpers/database.js'
import { eventually } from '../../../test/helpers/http.js'
import { startSmtpServer, type TestSmtpServer } from '../../../test/helpers/smtp.js'
import { mailOutbox } from './mail-outbox.table.js'
import { createMailOutboxRepository } from './mail-outbox.repository.js'
import { retryDelaySeconds } from '../../shared/outbox-loop.js'
import { createOutboxWorker, type OutboxWorkerOptions } from './mail-outbox.worker.js'
import { createMailTransport } from './mail.transport.js'

let database: Database
let drop: () => Promise<void>
let smtp: TestSmtpServer
beforeAll(async () => {
  ({ database, drop } = await createTestDatabase())
  await createMigrator(database).migrate()
  smtp = await startSmtpServer()
})
afterAll(async () => {
  await smtp.close()
  await drop()
})

/** A logger whose JSON lines the test can read. */
function capturingLogger() {
  const lines: string[] = []
  const stream = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(chunk.toString()); done() } })
  return { logger: pino({ level: 'info' }, stream), lines }
}

const silent = pino({ level: 'silent' })
const worker = (overrides: Partial<OutboxWorkerOptions> = {}) => createOutboxWorker({
  db: database.db,
  transport: createMailTransport({ kind: 'smtp', url: smtp.url }, silent),
  logger: silent,
  from: 'Keel <no-reply@keel.test>',
  messageIdHost: 'keel.test',
  maxAttempts: 3,
  retryBaseSeconds: 0,
  ...overrides,
})
let sequence = 0
const recipient = (label: string) => `${label}-${++sequence}-${Date.now()}@example.com`
const enqueue = (to: string, subject = `Hello ${to}`) =>
  createMailOutboxRepository(database.db).enqueue([{ to, subject, text: `text for ${to}\n`, html: `<p>html for ${to}</p>` }])
const row = async (to: string) => (await database.db.select().from(mailOutbox).where(eq(mailOutbox.recipient, to)))[0]!

describe('mail outbox worker', () => {
  it('sends a queued message over SMTP with text and HTML parts, then erases its body', async () => {
    const to = recipient('send')
    await enqueue(to)
    await worker().runOnce()
    const mail = await smtp.waitFor((m) => m.to === to)
    expect(mail).toMatchObject({ from: 'no-reply@keel.test', subject: `Hello ${to}`, text: `text for ${to}\n`, html: `<p>html for ${to}</p>` })
    expect(mail.messageId).toMatch(/^<outbox-\d+\.\d+@keel\.test>$/)
    expect(await row(to)).toMatchObject({ status: 'sent', attempts: 1, text_body: null, html_body: null, sent_at: expect.any(Date) })
  })

  it('retries with backoff after the SMTP server refused the first attempt, and sends once', async () => {
    const to = recipient('retry')
    await enqueue(to)
    smtp.refuseNext(1)
    await worker({ retryBaseSeconds: 60 }).runOnce()
    const failed = await row(to)
    expect(failed).toMatchObject({ status: 'pending', attempts: 1, last_error: expect.stringMatching(/451/) })
    // Backoff: not due for about a minute, so a second pass sends nothing.
    expect(failed.next_attempt_at.getTime() - Date.now()).toBeGreaterThan(50_000)
    await worker().runOnce()
    expect(smtp.received.filter((m) => m.to === to)).toEqual([])
    // A minute later (moved by hand) it is due again, and the server now accepts it.
    await database.db.update(mailOutbox).set({ next_attempt_at: new Date(Date.now() - 1000) }).where(eq(mailOutbox.id, failed.id))
    await worker().runOnce()
    expect(smtp.received.filter((m) => m.to === to)).toHaveLength(1)
    expect(await row(to)).toMatchObject({ status: 'sent', attempts: 2 })
  })

  it('a started worker retries by itself and marks a message dead after MAIL_MAX_ATTEMPTS, logged', async () => {
    const { logger, lines } = capturingLogger()
    const to = recipient('dead')
    await enqueue(to)
    smtp.refuseNext(100)
    const running = worker({ logger, maxAttempts: 3, retryBaseSeconds: 0.01 })
    running.start()
    try {
      await eventually(async () => expect((await row(to)).status).toBe('dead'))
    } finally {
      await running.stop()
      smtp.refuseNext(0)
    }
    expect(await row(to)).toMatchObject({ status: 'dead', attempts: 3, text_body: null, html_body: null, last_error: expect.stringMatching(/451/) })
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; to?: string })
    expect(logged.filter((l) => l.msg === 'mail failed: will retry' && l.to === to)).toHaveLength(2)
    expect(logged.filter((l) => l.msg === 'mail dead: giving up' && l.to === to)).toHaveLength(1)
    expect(lines.join('')).not.toContain(`text for ${to}`)
  })

  it('two workers draining one outbox together never send a message twice', async () => {
    const batch = Array.from({ length: 24 }, () => recipient('pair'))
    for (const to of batch) await enqueue(to)
    smtp.setDelay(15)
    try {
      await Promise.all([worker({ batchSize: 4 }).runOnce(), worker({ batchSize: 4 }).runOnce()])
    } finally {
      smtp.setDelay(0)
    }
    const got = smtp.received.filter((m) => batch.includes(m.to)).map((m) => m.to)
    expect(got.sort()).toEqual([...batch].sort())
    for (const to of batch) expect(await row(to)).toMatchObject({ status: 'sent', attempts: 1 })
  })

  it('a message leased by a worker that is still sending is not taken by another', async () => {
    const to = recipient('lease')
    await enqueue(to)
    const [claimed] = await createMailOutboxRepository(database.db).claim(10, 300)
    expect(claimed?.recipient).toBe(to)
    await worker().runOnce()
    expect(smtp.received.filter((m) => m.to === to)).toEqual([])
    expect(await row(to)).toMatchObject({ status: 'pending', attempts: 1 })
  })

  it('the clean-up drops finished messages past their keeping time, never pending ones', async () => {
    const [old, fresh, waiting] = [recipient('old'), recipient('fresh'), recipient('waiting')]
    for (const to of [old, fresh, waiting]) await enqueue(to)
    await database.db.update(mailOutbox).set({ status: 'sent', created_at: new Date(Date.now() - 31 * 86_400_000) }).where(eq(mailOutbox.recipient, old))
    await database.db.update(mailOutbox).set({ status: 'dead' }).where(eq(mailOutbox.recipient, fresh))
    await database.db.update(mailOutbox).set({ created_at: new Date(Date.now() - 40 * 86_400_000), next_attempt_at: new Date(Date.now() + 3_600_000) }).where(eq(mailOutbox.recipient, waiting))
    expect(await createMailOutboxRepository(database.db).sweepFinished(30)).toBe(1)
    const left = await database.db.select({ to: mailOutbox.recipient }).from(mailOutbox).where(inArray(mailOutbox.recipient, [old, fresh, waiting]))
    expect(left.map((r) => r.to).sort()).toEqual([fresh, waiting].sort())
  })

  it('stop() waits for the message being sent, then polls no more', async () => {
    const [to, later] = [recipient('stopping'), recipient('after-stop')]
    await enqueue(to)
    smtp.setDelay(500)
    const running = worker({ pollMs: 10 })
    try {
      running.start()
      await eventually(async () => expect((await row(to)).attempts).toBe(1))
      await running.stop()
    } finally {
      smtp.setDelay(0)
    }
    expect(await row(to)).toMatchObject({ status: 'sent' })
    await enqueue(later)
    running.wake()
    await new Promise((resolve) => setImmediate(resolve))
    expect(await row(later)).toMatchObject({ status: 'pending', attempts: 0 })
  })

  it('backs off exponentially, capped at an hour', () => {
    expect([1, 2, 3, 4].map((a) => retryDelaySeconds(30, a))).toEqual([30, 60, 120, 240])
    expect(retryDelaySeconds(30, 20)).toBe(3_600)
  })
})

describe('mail transports', () => {
  const mail = { outboxId: 7, messageId: '<outbox-7.1@keel.test>', from: 'Keel <no-reply@keel.test>', to: 'ada@example.com', subject: 'Hi', text: 'secret-token-text', html: '<p>secret-token-html</p>' }

  it('development default: an .eml file in DATA_DIR/outbox, its path logged', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'keel-mail-')), 'outbox')
    const { logger, lines } = capturingLogger()
    await createMailTransport({ kind: 'files', dir }, logger).send(mail)
    const [file] = readdirSync(dir)
    expect(file).toMatch(/-7\.eml$/)
    const eml = readFileSync(join(dir, file!), 'utf8')
    expect(eml).toMatch(/^Subject: Hi$/m)
    expect(eml).toMatch(/^To: ada@example.com$/m)
    expect(eml).toContain('secret-token-text')
    expect(eml).toMatch(/multipart\/alternative/)
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'mail written to file', path: join(dir, file!), to: 'ada@example.com' })
    expect(lines.join('')).not.toContain('secret-token')
  })

  it('log: logs who and what, never the body', async () => {
    const { logger, lines } = capturingLogger()
    await createMailTransport({ kind: 'log' }, logger).send(mail)
    expect(JSON.parse(lines[0]!)).toMatchObject({ msg: 'mail not sent (SMTP_URL=log:)', to: 'ada@example.com', subject: 'Hi' })
    expect(lines.join('')).not.toContain('secret-token')
  })
})
