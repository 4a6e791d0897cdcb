import { spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { serverUrl } from './helpers/database.js'
import { freePort, startKeel, waitReady } from './helpers/process.js'

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })

describe.skipIf(serverUrl)('the server process on the embedded engine', () => {
  it('keeps data across restarts and kills, refuses a second process on its DATA_DIR, drains on SIGTERM', async () => {
    const env = { DATA_DIR: mkdtempSync(join(tmpdir(), 'keel-proc-')), PORT: String(await freePort()) }
    const base = `http://127.0.0.1:${env.PORT}`
    const credentials = { email: 'proc@example.com', password: 'process-password' }

    const first = startKeel(env)
    await waitReady(base, first.child)
    expect((await fetch(`${base}/api/v1/users`, json(credentials))).status).toBe(201)
    const { access_token } = await (await fetch(`${base}/api/v1/auth/token`, json(credentials))).json() as { access_token: string }
    const created = await fetch(`${base}/api/v1/items`, { ...json({ name: 'survives' }), headers: { 'content-type': 'application/json', authorization: `Bearer ${access_token}` } })
    expect(created.status).toBe(201)

    // A second Keel on the same DATA_DIR must refuse: PGlite does not lock its directory.
    const second = startKeel({ ...env, PORT: String(await freePort()) })
    expect(await second.exited).toBe(1)
    expect(second.output()).toMatch(/in use by another Keel process/)

    // Killed without warning right after an acknowledged write: nothing is lost.
    first.child.kill('SIGKILL')
    await first.exited

    const third = startKeel(env)
    await waitReady(base, third.child)
    const login = fetch(`${base}/api/v1/auth/token`, json(credentials)) // ~0.25 s of bcrypt at cost 12: in flight at SIGTERM
    await new Promise((r) => setTimeout(r, 50))
    third.child.kill('SIGTERM')
    const answered = await login
    expect(answered.status).toBe(200)
    const { access_token: token } = await answered.json() as { access_token: string }
    expect(await third.exited).toBe(0)

    const fourth = startKeel(env)
    await waitReady(base, fourth.child)
    const list = await (await fetch(`${base}/api/v1/items`, { headers: { authorization: `Bearer ${token}` } })).json() as { items: { name: string }[] }
    expect(list.items.map((i) => i.name)).toEqual(['survives'])
    fourth.child.kill('SIGTERM')
    expect(await fourth.exited).toBe(0)
  }, 120_000)

  it('SIGTERM sent to `npm start` reaches the server, which drains and exits 0: nothing is left running', async () => {
    const env = { DATA_DIR: mkdtempSync(join(tmpdir(), 'keel-proc-')), PORT: String(await freePort()) }
    const base = `http://127.0.0.1:${env.PORT}`
    const npm = spawn('npm', ['start'], { env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let output = ''
    npm.stdout!.on('data', (d) => { output += d })
    npm.stderr!.on('data', (d) => { output += d })
    const exited = once(npm, 'exit').then(([code]) => code as number | null)
    try {
      await waitReady(base, npm)
      npm.kill('SIGTERM') // npm's own process, not the server's: npm must pass the signal on
      expect(await exited).toBe(0)
      expect(output).toMatch(/"msg":"stopped"/)
      await expect(fetch(`${base}/healthz`)).rejects.toThrow()
    } finally {
      if (npm.exitCode === null) npm.kill('SIGKILL')
    }
  }, 120_000)

  it('stops with one clear line for bad configuration', async () => {
    const run = startKeel({ PORT: 'eighty', DATA_DIR: mkdtempSync(join(tmpdir(), 'keel-proc-')) })
    expect(await run.exited).toBe(1)
    expect(run.output().trim()).toMatch(/^Keel cannot start: Invalid configuration: PORT/)
  })
})

describe.skipIf(!serverUrl)('the server process as a cluster on PostgreSQL', () => {
  it('WORKERS=2 share the rate limit, and SIGTERM stops them all with exit 0', async () => {
    const { createTestDatabase } = await import('./helpers/database.js')
    const fresh = await createTestDatabase()
    await fresh.database.close()
    const port = String(await freePort())
    const keel = startKeel({ DATABASE_URL: fresh.url!, WORKERS: '2', PORT: port, RATE_LIMIT_PER_MINUTE: '6', LOG_LEVEL: 'info' })
    try {
      await waitReady(`http://127.0.0.1:${port}`, keel.child)
      // Workers start listening one after the other: wait for both before spreading connections over them.
      for (let i = 0; i < 300 && (keel.output().match(/Keel ready/g) ?? []).length < 2; i++) await new Promise((r) => setTimeout(r, 100))
      const statuses: number[] = []
      // New connection per request, so both workers serve some of them.
      for (let i = 0; i < 8; i++) statuses.push((await fetch(`http://127.0.0.1:${port}/nope`, { headers: { connection: 'close' } })).status)
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(2)
      const pids = new Set([...keel.output().matchAll(/"pid":(\d+)[^\n]*"url":"\/nope"/g)].map((m) => m[1]))
      expect(pids.size).toBe(2)
      keel.child.kill('SIGTERM')
      expect(await keel.exited).toBe(0)
    } finally {
      // A failed assertion must not leave a cluster running (its workers would outlive the test run).
      if (keel.child.exitCode === null) {
        keel.child.kill('SIGKILL')
        await keel.exited
      }
      await fresh.drop()
    }
  }, 120_000)
})
