import type { Logger } from 'pino'
import { isDatabaseUnavailable } from './errors.js'

/**
 * Turns a database outage into two log lines instead of one error with a stack per request: "unreachable" at its
 * first failure, "reachable again" once the server has answered and then `settleMs` passed with no failure, with
 * how long it lasted (to that first answer) and how many requests were answered 503 meanwhile. During a failover
 * that is thousands of requests a second. The settling keeps one failover one outage: a promoted leader may still
 * refuse writes (25006) for some hundred milliseconds after its first answers, and during a switchover HAProxy
 * sends new connections to the demoted leader until its check fails (seen: a connect timing out 1.75 s after the
 * first answer). 3 s covers both, with the connect and query timeouts (1.2 s, 1.5 s) of an attempt in flight.
 */
export interface OutageLog {
  /** A query or connection to this server failed for a connection-class reason (db/errors.ts). */
  failed(err: unknown): void
  /** A request was answered 503 because of it (counted, not logged). */
  refused(err: unknown): void
  /** A query succeeded. Cheap when nothing is down: called on every query. */
  succeeded(): void
  /** Failing now: there was a failure and no answer since. */
  isDown(): boolean
}

export const OUTAGE_SETTLE_MS = 3_000

export function createOutageLog(server: string, logger: Logger | undefined, settleMs = OUTAGE_SETTLE_MS): OutageLog {
  let since: number | undefined
  // The first answer since the outage's last failure, and the timer that ends the outage `settleMs` after it.
  let answering: number | undefined
  let settling: NodeJS.Timeout | undefined
  let refusals = 0
  const over = () => {
    logger?.warn({ server, outage_ms: answering! - since!, refused_503: refusals }, `database reachable again (${server})`)
    since = undefined
    answering = undefined
    settling = undefined
  }
  const failed = (err: unknown) => {
    if (since !== undefined) {
      clearTimeout(settling)
      settling = undefined
      answering = undefined
      return
    }
    since = Date.now()
    refusals = 0
    logger?.error({ server, reason: describeCause(err) }, `database unreachable (${server}): answering 503 until it is back`)
  }
  return {
    failed,
    refused(err) {
      failed(err)
      refusals++
    },
    succeeded() {
      if (since === undefined || answering !== undefined) return
      answering = Date.now()
      settling = setTimeout(over, settleMs)
      settling.unref()
    },
    isDown: () => since !== undefined && answering === undefined,
  }
}

/**
 * What a background loop (an outbox worker, the event hub, a clean-up) does with its failure. A database outage is
 * already one event of the outage log (`report` hands it there), so it is not logged again here, once per poll
 * with a stack; anything else is a real fault, logged with its error.
 */
export function logBackgroundFailure(report: (err: unknown) => void, logger: Logger, err: unknown, msg: string): void {
  if (isDatabaseUnavailable(err)) {
    report(err)
    logger.debug({ reason: describeCause(err) }, msg)
  } else {
    logger.warn({ err }, msg)
  }
}

/**
 * The driver's error at the root of the chain, code and message, without a stack: the outage is one event, its
 * cause a short line. Not Drizzle's wrapper, whose message carries the query's parameters (personal data).
 */
export function describeCause(err: unknown): string {
  let root = err
  for (let depth = 0; depth < 8 && root instanceof Error && root.cause instanceof Error; depth++) root = root.cause
  if (!(root instanceof Error)) return String(root)
  const code = (root as { code?: unknown }).code
  return `${typeof code === 'string' ? `${code} ` : ''}${root.message}`
}
