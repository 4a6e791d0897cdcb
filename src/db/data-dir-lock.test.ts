import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { acquireDataDirLock, DataDirLockedError } from './data-dir-lock.js'

const newDir = () => mkdtempSync(join(tmpdir(), 'keel-lock-'))

/** Another process holding the lock of `dir` (the real function, in a child), until killed. */
async function holderProcess(dir: string) {
  const code = `import('${new URL('./data-dir-lock.ts', import.meta.url).pathname}').then(async (m) => { await m.acquireDataDirLock(${JSON.stringify(dir)}); console.log('locked'); setInterval(() => {}, 1000) })`
  const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] })
  await once(child.stdout!, 'data')
  return child
}

describe('acquireDataDirLock', () => {
  it('refuses a directory held by another live process, naming its pid', async () => {
    const dir = newDir()
    const holder = await holderProcess(dir)
    try {
      await expect(acquireDataDirLock(dir)).rejects.toThrow(DataDirLockedError)
      await expect(acquireDataDirLock(dir)).rejects.toThrow(new RegExp(`in use by another Keel process \\(pid ${holder.pid}\\).*DATABASE_URL`))
    } finally {
      holder.kill('SIGKILL')
    }
  })

  it('is free the moment its holder is killed: the kernel closed the listener, the stale file is taken over', async () => {
    const dir = newDir()
    const holder = await holderProcess(dir)
    holder.kill('SIGKILL')
    await once(holder, 'exit')
    expect(existsSync(join(dir, 'keel.sock'))).toBe(true) // kill -9 left the socket file behind
    const release = await acquireDataDirLock(dir)
    await expect(acquireDataDirLock(dir)).rejects.toThrow(/pid \d+/)
    await release()
    expect(existsSync(join(dir, 'keel.sock'))).toBe(false)
    await (await acquireDataDirLock(dir))()
  })

  it('locks a DATA_DIR too deep for a socket path by a name derived from its real path', async () => {
    const dir = join(newDir(), 'd'.repeat(60), 'e'.repeat(60))
    mkdirSync(dir, { recursive: true })
    const release = await acquireDataDirLock(dir)
    await expect(acquireDataDirLock(dir)).rejects.toThrow(DataDirLockedError)
    await release()
    await (await acquireDataDirLock(dir))()
  })
})
