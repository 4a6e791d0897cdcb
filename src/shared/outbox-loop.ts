import { AsyncResource } from 'node:async_hooks'
import type { Logger } from 'pino'
import { logBackgroundFailure } from '../db/outage.js'

const MAX_RETRY_SECONDS = 3_600

/** Delay before attempt `attempts + 1`: exponential backoff from `base`, capped at an hour. */
export function retryDelaySeconds(base: number, attempts: number): number {
  return Math.min(MAX_RETRY_SECONDS, base * 2 ** (attempts - 1))
}

export interface OutboxLoopOptions<T> {
  /** What the warnings call it ("mail outbox"). */
  name: string
  logger: Logger
  /** The database was unavailable (an outage, already logged once as such): `Database.unavailable`. */
  onUnavailable?(err: unknown): void
  /** Idle polling, for rows other processes queued and for retries. */
  pollMs: number
  batchSize: number
  /** Takes up to `limit` due rows, leased to this process (FOR UPDATE SKIP LOCKED: any number of workers). */
  claim(limit: number): Promise<T[]>
  /** Sends one claimed row; returns in how many ms it is to be retried, if it failed and will be. */
  send(row: T): Promise<number | undefined>
  /** Send a batch's rows at once (receivers independent of each other), rather than one after another. */
  concurrent?: boolean
}

/**
 * The loop an outbox worker runs (mail, webhooks): drain what is due, then sleep until the next poll or the
 * earliest retry, whichever comes first; `wake()` drains at once (a row was just queued), or right after the
 * drain in progress. Requests only write rows and wake it, so a slow or failing receiver never slows them.
 */
export function createOutboxLoop<T>(options: OutboxLoopOptions<T>) {
  const { logger, pollMs, batchSize } = options
  let stopped = true
  let running: Promise<void> | undefined
  let again = false
  let timer: NodeJS.Timeout | undefined

  const sendAll = async (batch: T[]): Promise<(number | undefined)[]> => {
    if (options.concurrent) return Promise.all(batch.map((row) => options.send(row)))
    const retries: (number | undefined)[] = []
    for (const row of batch) retries.push(await options.send(row))
    return retries
  }

  /** Sends batches until nothing is due (or the loop stops); returns the earliest retry scheduled (ms), if any. */
  async function drain(untilEmpty = false): Promise<number | undefined> {
    let soonest: number | undefined
    for (;;) {
      const batch = await options.claim(batchSize)
      for (const retryMs of await sendAll(batch)) {
        if (retryMs !== undefined) soonest = Math.min(soonest ?? retryMs, retryMs)
      }
      if (batch.length < batchSize || (stopped && !untilEmpty)) return soonest
    }
  }

  function schedule(ms: number) {
    clearTimeout(timer)
    if (stopped) return
    timer = setTimeout(wake, ms)
    timer.unref()
  }

  // Runs in the async context the loop was created in, not the one of the request that woke it: sending is not part
  // of that request (its trace, when tracing is on, ended with the answer).
  const wake = AsyncResource.bind(function wake(): void {
    if (stopped) return
    if (running) {
      again = true
      return
    }
    clearTimeout(timer)
    running = drain().then(
      (retryMs) => Math.min(pollMs, retryMs ?? pollMs),
      (err: unknown) => {
        logBackgroundFailure(options.onUnavailable ?? (() => undefined), logger, err, `${options.name} unavailable: retrying later`)
        return pollMs
      },
    ).then((nextMs) => {
      running = undefined
      if (again) {
        again = false
        wake()
      } else {
        schedule(nextMs)
      }
    })
  })

  return {
    start(): void {
      stopped = false
      wake()
    },
    /** Look at the outbox now (a row was just queued). */
    wake,
    /** Sends everything due now and resolves when done: for tests and tools; the running loop does the same. */
    async runOnce(): Promise<void> {
      await drain(true)
    },
    /** Stops polling and waits for the sends in progress, so nothing is cut off mid-delivery. */
    async stop(): Promise<void> {
      stopped = true
      clearTimeout(timer)
      await running
    },
  }
}

export type OutboxLoop = ReturnType<typeof createOutboxLoop>
