import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/** Raised when another live process already serves this DATA_DIR. */
export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError'
}

/**
 * Takes an exclusive lock on `dataDir` by creating `keel.lock` with our PID ('wx' fails if it exists).
 * A lock left by a dead process (crash, kill -9) is taken over. Returns the release function.
 */
export function acquireDataDirLock(dataDir: string): () => void {
  const file = join(dataDir, 'keel.lock')
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx' })
      return () => rmSync(file, { force: true })
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      const holder = Number.parseInt(readFileSync(file, 'utf8'), 10)
      if (Number.isInteger(holder) && holder !== process.pid && isAlive(holder)) {
        throw new DataDirLockedError(
          `DATA_DIR ${dataDir} is in use by another Keel process (pid ${holder}). ` +
          'The embedded database serves one process only: stop the other one, use another DATA_DIR, or set DATABASE_URL.')
      }
      rmSync(file, { force: true })
    }
  }
  throw new DataDirLockedError(`could not lock DATA_DIR ${dataDir}`)
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}
