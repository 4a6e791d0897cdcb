import { Writable } from 'node:stream'
import { DrizzleQueryError } from 'drizzle-orm'
import { describe, expect, it } from 'vitest'
import { createLogger } from './logger.js'

function capture() {
  const lines: string[] = []
  const stream = new Writable({ write(chunk: Buffer, _encoding, done) { lines.push(chunk.toString()); done() } })
  return { lines, stream }
}

describe('createLogger', () => {
  it("logs a failed query's SQL and cause, never its parameters", () => {
    const { lines, stream } = capture()
    const cause = Object.assign(new Error('Connection terminated unexpectedly'), { code: '57P01' })
    const err = new DrizzleQueryError('insert into users (email, name) values ($1, $2)', ['ada@example.com', 'Ada Lovelace'], cause)
    createLogger('info', stream).warn({ err }, 'mail outbox unavailable: retrying later')
    expect(lines).toHaveLength(1)
    const entry = JSON.parse(lines[0]!) as { err: Record<string, unknown> }
    expect(lines[0]).not.toMatch(/ada@example\.com|Ada Lovelace/)
    expect(entry.err).not.toHaveProperty('params')
    expect(entry.err.message).toBe('Failed query: insert into users (email, name) values ($1, $2)\nparams: (not logged): Connection terminated unexpectedly')
    expect(entry.err.stack).toContain('caused by: Error: Connection terminated unexpectedly')
    expect(entry.err.code).toBeUndefined()
  })

  it('logs any other error as pino does', () => {
    const { lines, stream } = capture()
    createLogger('info', stream).error({ err: Object.assign(new Error('boom'), { code: 'E1' }) }, 'failed')
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 50, msg: 'failed', err: { type: 'Error', message: 'boom', code: 'E1' } })
  })
})
