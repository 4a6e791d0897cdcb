import fp from 'fastify-plugin'
import { deleteExpiredKeys } from './idempotency.js'

const SWEEP_MS = 10 * 60_000

/** Removes expired Idempotency-Keys every 10 minutes (in batches), on every instance: the deletes never conflict. */
export const idempotencySweepPlugin = fp(async (app) => {
  let timer: NodeJS.Timeout | undefined
  const sweep = async () => {
    try {
      while ((await deleteExpiredKeys(app.database.db)) > 0) { /* next batch */ }
    } catch (err) {
      app.log.warn({ err }, 'could not delete expired idempotency keys')
    }
  }
  app.addHook('onReady', async () => {
    timer = setInterval(() => void sweep(), SWEEP_MS)
    timer.unref()
  })
  app.addHook('onClose', async () => clearInterval(timer))
}, { name: 'idempotency-sweep' })
