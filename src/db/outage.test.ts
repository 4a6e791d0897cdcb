import { describe, expect, it } from 'vitest'
import pino from 'pino'
import { isDatabaseUnavailable, isRetryableRead, isTransientConflict, sqlState } from './errors.js'
import { createOutageLog } from './outage.js'

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
  })
})

describe('createOutageLog', () => {
  it('logs an outage once when it starts and once when it ends, with its duration and the 503s it cost, never the query', () => {
    const lines: { level: number; msg: string; outage_ms?: number; refused_503?: number; reason?: string }[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) })
    let clock = 1_000
    const log = createOutageLog('primary', logger, () => clock)
    log.succeeded()
    expect(log.isDown()).toBe(false)
    log.failed(Object.assign(new Error('Failed query: select $1 params: secret'), { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) }))
    log.refused(new Error('again'))
    log.refused(new Error('again'))
    expect(log.isDown()).toBe(true)
    clock = 4_500
    log.succeeded()
    log.succeeded()
    expect(log.isDown()).toBe(false)
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      [50, 'database unreachable (primary): answering 503 until it is back'],
      [40, 'database reachable again (primary)'],
    ])
    expect(lines[0]!.reason).toBe('ECONNREFUSED connect ECONNREFUSED')
    expect(lines[1]).toMatchObject({ outage_ms: 3_500, refused_503: 2 })
  })
})
