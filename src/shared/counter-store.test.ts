import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { createMemoryCounterStore, createRedisCounterStore } from './counter-store.js'

describe('in-process counters', () => {
  it('take() hands over the open windows and forgets them', async () => {
    const store = createMemoryCounterStore()
    await store.hit('a', 60_000)
    await store.hit('a', 60_000)
    await store.hit('b', 60_000)
    expect(store.take()).toEqual([
      { key: 'a', count: 2, resetMs: expect.any(Number) },
      { key: 'b', count: 1, resetMs: expect.any(Number) },
    ])
    expect(store.take()).toEqual([])
    expect((await store.hit('a', 60_000)).count).toBe(1)
    await store.close()
  })
})

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0

async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

describe.skipIf(!hasRedisServer && process.env.CI !== 'true')('Redis counters while Redis is away', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keel-redis-'))
  let redis: ChildProcess | undefined
  const start = async (port: number) => {
    // Every write on disk before it is acknowledged: a restart stands for a promoted replica that had every count.
    redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', dir,
      '--appendonly', 'yes', '--appendfsync', 'always'], { stdio: 'ignore' })
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const probe = spawnSync('redis-cli', ['-p', String(port), 'ping'], { encoding: 'utf8' })
        resolve(probe.stdout?.trim() === 'PONG')
      })
      if (ok) return
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    throw new Error('redis-server did not start')
  }
  const kill = async () => {
    const exited = once(redis!, 'exit')
    redis!.kill('SIGKILL')
    await exited
  }
  afterAll(async () => {
    if (redis?.exitCode === null) await kill()
    rmSync(dir, { recursive: true, force: true })
  })

  it('counts hits in-process meanwhile and adds them to the shared counter once it is back', async () => {
    const port = await freePort()
    await start(port)
    const lines: { msg: string }[] = []
    const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line) as { msg: string }) })
    const store = await createRedisCounterStore({ url: `redis://127.0.0.1:${port}` }, logger)
    let hits = 0
    const hit = () => { hits++; return store.hit('login:email:ada@example.com', 60_000) }
    expect((await hit()).count).toBe(1)
    expect((await hit()).count).toBe(2)
    await kill()
    const away = [await hit(), await hit(), await hit()]
    expect(away.map((h) => h.count)).toEqual([1, 2, 3]) // per instance while Redis is away
    await start(port)
    let back: number | undefined
    for (let i = 0; i < 100 && back === undefined; i++) {
      const h = await hit()
      if (lines.some((l) => l.msg.startsWith('redis is reachable again'))) back = h.count
      else await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const fellBackAgain = lines.filter((l) => l.msg.startsWith('redis unreachable')).length
    expect(fellBackAgain).toBe(1)
    // 2 before, 3 while away, those counted in-process while it restarted, and this one: nothing lost.
    expect(back).toBe(hits)
    expect((await hit()).count).toBe(hits)
    await store.close()
  })
})
