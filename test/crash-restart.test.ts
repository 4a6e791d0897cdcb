import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { serverUrl } from './helpers/database.js'
import { freePort, killKeel, startKeel, waitReady } from './helpers/process.js'

const json = (body: unknown, token?: string) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
  body: JSON.stringify(body),
})

const RESTARTS = 20

/** `kill -9` and start again at once on the same DATA_DIR, as a supervisor with Restart=always does (issue 10 §4). */
describe.skipIf(serverUrl)('the embedded engine after a crash', () => {
  it(`restarts at once after kill -9, ${RESTARTS} times in a row, with every acknowledged write kept`, async () => {
    const env = { DATA_DIR: mkdtempSync(join(tmpdir(), 'keel-crash-')), PORT: String(await freePort()), BCRYPT_ROUNDS: '4' }
    const base = `http://127.0.0.1:${env.PORT}`
    const credentials = { email: 'crash@example.com', password: 'crash-password' }
    let token = ''
    const acknowledged: string[] = []
    let killed: Promise<unknown> = Promise.resolve()
    for (let round = 0; round < RESTARTS; round++) {
      const keel = startKeel(env)
      await killed // reaped only now: the previous process may still have been dying while this one started
      try {
        await waitReady(base, keel.child)
        if (round === 0) {
          expect((await fetch(`${base}/api/v1/users`, json(credentials))).status).toBe(201)
          token = ((await (await fetch(`${base}/api/v1/auth/token`, json(credentials))).json()) as { access_token: string }).access_token
        }
        const name = `round-${round}`
        expect((await fetch(`${base}/api/v1/items`, json({ name }, token))).status).toBe(201)
        acknowledged.push(name)
      } finally {
        keel.child.kill('SIGKILL') // no drain, no unlock; the next round starts at once, before this one is reaped
        killed = keel.exited
      }
    }
    const last = startKeel(env)
    await killed
    try {
      await waitReady(base, last.child)
      const page = await (await fetch(`${base}/api/v1/items?limit=100&sort=id`, { headers: { authorization: `Bearer ${token}` } })).json() as { items: { name: string }[] }
      expect(page.items.map((i) => i.name)).toEqual(acknowledged)
    } finally {
      await killKeel(last)
    }
  }, 300_000)

  it('starts while the killed holder is a zombie its parent has not reaped', async () => {
    const env = { DATA_DIR: mkdtempSync(join(tmpdir(), 'keel-zombie-')), PORT: String(await freePort()), BCRYPT_ROUNDS: '4' }
    const base = `http://127.0.0.1:${env.PORT}`
    // The server's parent becomes `sleep` (exec), which never waits for children: once killed, it stays a zombie.
    const parent = spawn('bash', ['-c', `${process.execPath} --import tsx src/server.ts & echo $!; exec sleep 600`], {
      env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'inherit'],
    })
    try {
      const [pidLine] = await once(parent.stdout!, 'data') as [Buffer]
      const pid = Number.parseInt(pidLine.toString(), 10)
      await waitReady(base, parent)
      process.kill(pid, 'SIGKILL')
      // Wait until the kernel shows it as a zombie (state Z): dead, unreaped, its pid still taken.
      const { readFileSync } = await import('node:fs')
      for (let i = 0; i < 100 && !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); i++) await new Promise((r) => setTimeout(r, 20))
      expect(readFileSync(`/proc/${pid}/stat`, 'utf8')).toMatch(/^\S+ \(.*\) Z/)

      const next = startKeel(env)
      try {
        await waitReady(base, next.child)
        expect((await fetch(`${base}/healthz`)).status).toBe(200)
        // A live holder is still refused.
        const second = startKeel({ ...env, PORT: String(await freePort()) })
        expect(await second.exited).toBe(1)
        expect(second.output()).toMatch(/in use by another Keel process/)
      } finally {
        await killKeel(next)
      }
    } finally {
      parent.kill('SIGKILL')
    }
  }, 120_000)
})
