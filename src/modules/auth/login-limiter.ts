import type { CounterStore } from '../../shared/counter-store.js'
import { TooManyRequestsError } from '../../shared/errors.js'

const WINDOW_MS = 60_000

/**
 * Counts every login attempt, successful or not, per client IP and per email (lower-cased),
 * so neither spraying one account from many IPs nor many accounts from one IP gets past the limit.
 */
export function createLoginLimiter(store: CounterStore, perMinute: number) {
  return {
    async check(ip: string, email: string): Promise<void> {
      const [byIp, byEmail] = await Promise.all([
        store.hit(`login:ip:${ip}`, WINDOW_MS),
        store.hit(`login:email:${email.trim().toLowerCase()}`, WINDOW_MS),
      ])
      const exceeded = [byIp, byEmail].filter((h) => h.count > perMinute)
      if (exceeded.length) {
        const retryAfter = Math.max(...exceeded.map((h) => h.resetMs)) / 1000
        throw new TooManyRequestsError(retryAfter, 'Too many login attempts, retry later', perMinute)
      }
    },
  }
}
