import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawn } from 'node:child_process'
import { describe, expect, it } from 'vitest'
import { acquireDataDirLock, DataDirLockedError } from './data-dir-lock.js'

describe('acquireDataDirLock', () => {
  it('refuses a directory held by another live process, with a clear message', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-lock-'))
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)'])
    try {
      writeFileSync(join(dir, 'keel.lock'), String(holder.pid))
      expect(() => acquireDataDirLock(dir)).toThrow(DataDirLockedError)
      expect(() => acquireDataDirLock(dir)).toThrow(/in use by another Keel process.*DATABASE_URL/)
    } finally {
      holder.kill()
    }
  })

  it('takes over a lock left by a dead process, and releases it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keel-lock-'))
    writeFileSync(join(dir, 'keel.lock'), '999999999')
    const release = acquireDataDirLock(dir)
    release()
    acquireDataDirLock(dir)()
  })
})
