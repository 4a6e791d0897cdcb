import { afterEach, describe, expect, it, vi } from 'vitest'
import pino from 'pino'
import { isDatabaseUnavailable, isRetryableRead, isTransientConflict, sqlState } from './errors.js'
import { createOutageLog, logBackgroundFailure, OUTAGE_SETTLE_MS } from './outage.js'

describe('database error classes', () => {
  const wrapped = (cause: object) => Object.assign(new Error('Failed query: select $1 params: secret'), { cause })

  it('finds the SQLSTATE and the connection class anywhere in the cause chain', () => {
    expect(sqlState(wrapped({ code: '23505' }))).toBe('23505')
    expect(sqlState(new Error('no code'))).toBeUndefined()
    expect(isTransientConflict(wrapped({ code: '40P01' }))).toBe(true)
    for (const cause of [{ code: '25006' }, { code: '57P01' }, { code: '08006' }, { code: 'ECONNREFUSED' }, { message: 'Connection terminated unexpectedly' }]) {
      expect(isDatabaseUnavailable(wrapped(cause)), JSON.stringify(cause)).toBe(true)
    }
    expect(isDatabaseUnavailable(wrapped({ code: '23505' }))).toBe(false)
    expect(isRetryableRead(wrapped({ code: '57P01' }))).toBe(true)
    // A retry's own connection that timed out (test:ha switchover, a 500 before): unavailable, not retried again.
    expect(isDatabaseUnavailable(wrapped(new Error('timeout expired')))).toBe(true)
    expect(isRetryableRead(wrapped(new Error('timeout expired')))).toBe(false)
  })
})

describe('createOutageLog', () => {
  afterEach(() => {
    vi.useRealTimers()
  })

  const capture = () => {
    const lines: { level: number; msg: string; outage_ms?: number; refused_503?: number; reason?: string; err?: unknown }[] = []
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) })
    return { lines, logger }
  }
  const refusedConnection = () =>
    Object.assign(new Error('Failed query: select $1\nparams: secret'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) })

  it('logs an outage once when it starts and once when it has settled, with its duration and the 503s it cost, never the query', () => {
    vi.useFakeTimers({ now: 1_000 })
    const { lines, logger } = capture()
    const log = createOutageLog('primary', logger)
    log.succeeded()
    expect(log.isDown()).toBe(false)
    log.failed(refusedConnection())
    log.refused(new Error('again'))
    log.refused(new Error('again'))
    expect(log.isDown()).toBe(true)
    vi.setSystemTime(4_500)
    log.succeeded()
    log.succeeded()
    expect(log.isDown()).toBe(false)
    expect(lines).toHaveLength(1)
    vi.advanceTimersByTime(OUTAGE_SETTLE_MS)
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [50, 'database unreachable (primary): answering 503 until it is back'],
      [40, 'database reachable again (primary)'],
    ])
    expect(lines[0]!.reason).toBe('ECONNREFUSED connect ECONNREFUSED')
    expect(lines[1]).toMatchObject({ outage_ms: 3_500, refused_503: 2 })
  })

  it('a failure within the settling time after the first answer continues the same outage: a promoting leader', () => {
    vi.useFakeTimers({ now: 0 })
    const { lines, logger } = capture()
    const log = createOutageLog('primary', logger)
    log.failed(refusedConnection())
    vi.setSystemTime(10_000)
    log.succeeded()
    vi.advanceTimersByTime(20)
    log.refused(Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' }))
    expect(log.isDown()).toBe(true)
    vi.advanceTimersByTime(OUTAGE_SETTLE_MS)
    expect(lines).toHaveLength(1)
    log.succeeded()
    vi.advanceTimersByTime(OUTAGE_SETTLE_MS)
    expect(lines.map((l) => l.msg)).toEqual(['database unreachable (primary): answering 503 until it is back', 'database reachable again (primary)'])
    expect(lines[1]).toMatchObject({ outage_ms: 10_020 + OUTAGE_SETTLE_MS, refused_503: 1 })
  })
})

describe('logBackgroundFailure', () => {
  it('hands a database outage to the outage log without a warning; logs any other failure with its error', () => {
    const lines: { level: number; msg: string; err?: unknown; reason?: string }[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) })
    const reported: unknown[] = []
    const outage = Object.assign(new Error('Failed query: select 1'), { cause: Object.assign(new Error('Connection terminated unexpectedly'), {}) })
    logBackgroundFailure((err) => reported.push(err), logger, outage, 'mail outbox unavailable: retrying later')
    expect(reported).toEqual([outage])
    expect(lines).toEqual([])
    const bug = new TypeError('x is undefined')
    logBackgroundFailure((err) => reported.push(err), logger, bug, 'mail outbox unavailable: retrying later')
    expect(reported).toHaveLength(1)
    expect(lines).toMatchObject([{ level: 40, msg: 'mail outbox unavailable: retrying later', err: { type: 'TypeError', message: 'x is undefined' } }])
  })
})
