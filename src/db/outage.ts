import type { Logger } from 'pino'

/**
 * Turns a database outage into two log lines instead of one error with a stack per request: "unreachable" at its
 * first failure, "reachable again" at the first success after it, with how long it lasted and how many requests
 * were answered 503 meanwhile. During a failover that is thousands of requests a second.
 */
export interface OutageLog {
  /** A query or connection to this server failed for a connection-class reason (db/errors.ts). */
  failed(err: unknown): void
  /** A request was answered 503 because of it (counted, not logged). */
  refused(err: unknown): void
  /** A query succeeded. Cheap when nothing is down: called on every query. */
  succeeded(): void
  isDown(): boolean
}

export function createOutageLog(server: string, logger: Logger | undefined, now = () => Date.now()): OutageLog {
  let since: number | undefined
  let refusals = 0
  const failed = (err: unknown) => {
    if (since !== undefined) return
    since = now()
    refusals = 0
    logger?.error({ server, reason: describe(err) }, `database unreachable (${server}): answering 503 until it is back`)
  }
  return {
    failed,
    refused(err) {
      failed(err)
      refusals++
    },
    succeeded() {
      if (since === undefined) return
      logger?.warn({ server, outage_ms: now() - since, refused_503: refusals }, `database reachable again (${server})`)
      since = undefined
    },
    isDown: () => since !== undefined,
  }
}

/**
 * The driver's error at the root of the chain, code and message, without a stack: the outage is one event, its
 * cause a short line. Not Drizzle's wrapper, whose message carries the query's parameters (personal data).
 */
function describe(err: unknown): string {
  let root = err
  for (let depth = 0; depth < 8 && root instanceof Error && root.cause instanceof Error; depth++) root = root.cause
  if (!(root instanceof Error)) return String(root)
  const code = (root as { code?: unknown }).code
  return `${typeof code === 'string' ? `${code} ` : ''}${root.message}`
}
