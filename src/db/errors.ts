/** Classifies driver errors (node-postgres, PGlite, wrapped by Drizzle) by walking the `cause` chain. */

const CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  '57P01', '57P02', '57P03', // admin/crash shutdown, cannot connect now
  '53300', // too many connections
  // read-only transaction: the connection reached a server that is (again) a standby, e.g. through a proxy that
  // had not yet moved to the promoted leader during a failover. Nothing was written; the request may be retried.
  '25006',
])
const CONNECTION_MESSAGES = [
  // 'timeout expired': a connection opened outside the pool (a retry's, router.ts) that did not connect in time.
  'Connection terminated', 'timeout exceeded when trying to connect', 'timeout expired', 'Query read timeout',
  'Client has encountered a connection error', 'Connection is closed', 'Cannot use a pool after calling end',
]

function* causes(err: unknown): Generator<Record<string, unknown>> {
  let current = err
  for (let depth = 0; depth < 8 && current && typeof current === 'object'; depth++) {
    yield current as Record<string, unknown>
    current = (current as { cause?: unknown }).cause
  }
}

/** The SQLSTATE of the first error in the chain that has one. */
export function sqlState(err: unknown): string | undefined {
  for (const e of causes(err)) if (typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code)) return e.code
  return undefined
}

export function isUniqueViolation(err: unknown): boolean {
  return sqlState(err) === '23505'
}

export function isForeignKeyViolation(err: unknown): boolean {
  return sqlState(err) === '23503'
}

/** Deadlock, serialization failure, lock not available: nothing was written, the client may simply retry. */
export function isTransientConflict(err: unknown): boolean {
  const state = sqlState(err)
  return state === '40P01' || state === '40001' || state === '55P03'
}

/** True when the database could not be reached or dropped the connection: the request should answer 503. */
export function isDatabaseUnavailable(err: unknown): boolean {
  for (const e of causes(err)) {
    const code = typeof e.code === 'string' ? e.code : ''
    if (CONNECTION_CODES.has(code) || code.startsWith('08')) return true
    const message = typeof e.message === 'string' ? e.message : ''
    if (CONNECTION_MESSAGES.some((m) => message.includes(m))) return true
  }
  return false
}

const TIMEOUT_MESSAGES = ['timeout exceeded when trying to connect', 'timeout expired', 'Query read timeout']

/**
 * Unavailable, but quickly: the connection was refused, dropped, reached a standby or a server shutting down (a
 * failover's symptoms). A read failing so is worth one more try on a new connection. A timeout is not: the retry
 * would wait as long again, past the 2 s within which a request must answer (SPEC §4).
 */
export function isRetryableRead(err: unknown): boolean {
  if (!isDatabaseUnavailable(err)) return false
  for (const e of causes(err)) {
    if (e.code === 'ETIMEDOUT') return false
    const message = typeof e.message === 'string' ? e.message : ''
    if (TIMEOUT_MESSAGES.some((m) => message.includes(m))) return false
  }
  return true
}
