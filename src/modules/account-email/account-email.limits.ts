import type { CounterStore } from '../../shared/counter-store.js'
import { TooManyRequestsError } from '../../shared/errors.js'

const MINUTE_MS = 60_000

/**
 * Limits for requests that send mail. The per-IP limit is counted before anything is looked up, so its 429
 * never depends on whether an account exists. The per-address cooldown is silent: the answer stays the same,
 * only the mail is not sent again, so it reveals nothing either.
 */
export function createMailRequestLimits(store: CounterStore, options: { perIpPerMinute: number; cooldownSeconds: number }) {
  return {
    async checkIp(ip: string): Promise<void> {
      const hit = await store.hit(`mail-request:ip:${ip}`, MINUTE_MS)
      if (hit.count > options.perIpPerMinute) {
        throw new TooManyRequestsError(hit.resetMs / 1000, 'Too many email requests, retry later', options.perIpPerMinute)
      }
    },
    /** True the first time `key` (a purpose and an address or user) is seen in the cooldown window. */
    async isOutsideCooldown(key: string): Promise<boolean> {
      if (options.cooldownSeconds === 0) return true
      const hit = await store.hit(`mail-request:cooldown:${key}`, options.cooldownSeconds * 1000)
      return hit.count === 1
    },
  }
}

export type MailRequestLimits = ReturnType<typeof createMailRequestLimits>
