import bcrypt from 'bcrypt'
import { ValidationError } from '../../shared/errors.js'

/** bcrypt reads at most 72 bytes: longer input would be silently truncated, so two passwords could both verify. */
export const MAX_PASSWORD_BYTES = 72

/** Rejects a password bcrypt would truncate (422), before it is hashed. */
export function assertHashable(password: string, field: string): void {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    throw new ValidationError([{ field, message: `must be at most ${MAX_PASSWORD_BYTES} bytes in UTF-8` }])
  }
}

/** Hashes on libuv's thread pool (async bcrypt), never blocking the event loop. */
export function hashPassword(password: string, rounds: number): Promise<string> {
  return bcrypt.hash(password, rounds)
}

export async function verifyPassword(password: string, hash: string): Promise<boolean> {
  if (Buffer.byteLength(password, 'utf8') > MAX_PASSWORD_BYTES) {
    // Still pay for a comparison so the answer takes as long as a real one.
    await bcrypt.compare('', hash)
    return false
  }
  return bcrypt.compare(password, hash)
}
