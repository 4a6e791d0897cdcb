import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'

export interface KeelProcess {
  child: ChildProcess
  /** Exit code (null when killed by a signal). */
  exited: Promise<number | null>
  output(): string
  /** Sends a signal to the process, or to its whole process group when started with `group`. */
  signal(name: NodeJS.Signals): void
}

/**
 * Runs the real entry point as a separate process: `node --import tsx src/server.ts` (or node with `args`, e.g. a
 * bundle), or `npm start` itself.
 * `group` starts it in a process group of its own, so a signal can reach every process in it at once, as
 * systemd (KillMode=control-group) or a terminal's Ctrl-C does.
 */
export function startKeel(env: Record<string, string>, options: { npm?: boolean; group?: boolean; args?: string[] } = {}): KeelProcess {
  const [command, args] = options.npm ? ['npm', ['start']] : [process.execPath, options.args ?? ['--import', 'tsx', 'src/server.ts']]
  const child = spawn(command, args, {
    env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'warn', BCRYPT_ROUNDS: '12', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: options.group ?? false,
  })
  let output = ''
  child.stdout!.on('data', (d) => { output += d })
  child.stderr!.on('data', (d) => { output += d })
  const exited = once(child, 'exit').then(([code]) => code as number | null)
  const signal = (name: NodeJS.Signals) => {
    if (options.group) process.kill(-child.pid!, name)
    else child.kill(name)
  }
  return { child, exited, output: () => output, signal }
}

/** Kills what a failed test left running (with its group, when it has one). */
export async function killKeel(keel: KeelProcess): Promise<void> {
  if (keel.child.exitCode !== null || keel.child.signalCode !== null) return
  try {
    process.kill(-keel.child.pid!, 'SIGKILL')
  } catch {
    keel.child.kill('SIGKILL')
  }
  await keel.exited
}

export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

export async function waitReady(base: string, child: ChildProcess): Promise<void> {
  for (let i = 0; i < 300 && child.exitCode === null; i++) {
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error('Keel did not become ready')
}
