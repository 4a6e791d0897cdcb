import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { sleep } from './processes.js'

export interface KeelInstance {
  name: string
  base: string
  start(): Promise<void>
  alive(): boolean
  output(): string
  stop(): Promise<void>
}

/** One Keel process (the bundle in dist/, NODE_ENV=production) with `env`; its log kept for the checks. */
export function keelInstance(name: string, port: number, env: Record<string, string>): KeelInstance {
  let child: ChildProcess | undefined
  let log = ''
  const base = `http://127.0.0.1:${port}`
  const alive = () => child !== undefined && child.exitCode === null && child.signalCode === null
  return {
    name, base, alive,
    async start() {
      child = spawn(process.execPath, ['dist/server.js'], { env: { ...process.env, ...env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
      child.stdout!.on('data', (d) => { log += d })
      child.stderr!.on('data', (d) => { log += d })
      for (let i = 0; i < 600; i++) {
        if (!alive()) throw new Error(`${name} exited: ${log.slice(-2000)}`)
        if (await fetch(`${base}/readyz`).then((r) => r.status === 200, () => false)) return
        await sleep(100)
      }
      throw new Error(`${name} did not become ready in 60 s`)
    },
    output: () => log,
    async stop() {
      if (!alive()) return
      const exited = once(child!, 'exit')
      process.kill(-child!.pid!, 'SIGKILL')
      await exited
    },
  }
}
