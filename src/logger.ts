import pino, { type DestinationStream, type Logger } from 'pino'

/** JSON logs (one line per event, request ids included); pretty only when a person watches a terminal. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], remove: true },
    serializers: { err: serializeError },
  }
  if (destination) return pino(options, destination)
  return pino({ ...options, ...(process.stdout.isTTY ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } } } : {}) })
}

/**
 * pino's error serializer (message and stack with their causes), less the query parameters Drizzle writes into a
 * failed query's error (`Failed query: …\nparams: a,b`, and a `params` field): they are the request's values,
 * emails and names among them, which have no place in a log. The SQL stays: it says which query failed.
 */
export function serializeError(err: unknown): unknown {
  const hidden: string[] = []
  for (let e = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    const params = (e as { params?: unknown }).params
    if (Array.isArray(params)) hidden.push(`\nparams: ${String(params)}`)
  }
  const out = pino.stdSerializers.err(err as Error) as unknown as Record<string, unknown>
  if (!hidden.length || !out || typeof out !== 'object') return out
  delete out.params
  const scrub = (text: unknown) => {
    if (typeof text !== 'string') return text
    let clean = text
    for (const h of hidden) clean = clean.replaceAll(h, '\nparams: (not logged)')
    return clean
  }
  out.message = scrub(out.message)
  out.stack = scrub(out.stack)
  return out
}
