import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { errorsPlugin } from './errors.js'

interface LogLine {
  level: number
  msg: string
  reqId?: string
  err?: { type: string; message: string; stack: string }
}

const lines: LogLine[] = []
let app: FastifyInstance
beforeAll(async () => {
  const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(JSON.parse(line) as LogLine) } })
  app = Fastify({ loggerInstance: logger as FastifyBaseLogger })
  await app.register(errorsPlugin)
  app.get('/boom', async () => {
    throw new Error('connection to db-secret-host:5432 failed for user keel_admin')
  })
  await app.ready()
})
afterAll(async () => app.close())

describe('GET /boom (a handler throwing a plain Error)', () => {
  it('500 problem+json with a generic detail that leaks nothing of the error', async () => {
    const res = await app.inject('/boom')
    expect(res.statusCode).toBe(500)
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(res.json()).toEqual({ type: 'about:blank', title: 'Internal Server Error', status: 500, detail: 'An unexpected error occurred' })
    expect(res.body).not.toMatch(/secret|keel_admin|5432/)
  })

  it('logs the error with its stack at error level', async () => {
    lines.length = 0
    await app.inject('/boom')
    const errors = lines.filter((line) => line.level === pino.levels.values.error)
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatchObject({ msg: 'unhandled error', reqId: expect.any(String), err: { type: 'Error', message: expect.stringContaining('db-secret-host') } })
    expect(errors[0]!.err!.stack).toMatch(/^Error: connection to db-secret-host[\s\S]*\n\s+at .*errors\.test\.ts/)
  })
})
