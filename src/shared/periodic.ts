import type { FastifyInstance } from 'fastify'

export const HOUR_MS = 3_600_000

/**
 * Runs `task` every `everyMs` from the app's onReady to its close, on every instance (each task is one idempotent
 * statement, so instances running it at once is harmless). A failure, e.g. while the database is away, is one warning
 * naming `what`; the next turn tries again. The timer never keeps the process alive.
 */
export function repeatWhileUp(app: FastifyInstance, what: string, everyMs: number, task: () => Promise<unknown>): void {
  let timer: NodeJS.Timeout | undefined
  app.addHook('onReady', async () => {
    timer = setInterval(() => {
      task().catch((err: unknown) => app.log.warn({ err }, `${what} failed`))
    }, everyMs)
    timer.unref()
  })
  app.addHook('onClose', async () => clearInterval(timer))
}
