import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { openSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export interface Daemon {
  name: string
  child: ChildProcess
  alive(): boolean
}

/** Starts `command` in its own process group, its output appended to `<logDir>/<name>.log`. */
export function daemon(name: string, logDir: string, command: string, args: string[], options: { uid?: number; gid?: number; env?: NodeJS.ProcessEnv; cwd?: string } = {}): Daemon {
  const log = openSync(join(logDir, `${name}.log`), 'a')
  const child = spawn(command, args, { ...options, detached: true, stdio: ['ignore', log, log] })
  child.on('error', () => undefined) // a missing binary shows as a process that is not alive
  return { name, child, alive: () => child.exitCode === null && child.signalCode === null }
}

/** The pids whose parent is `pid`, and theirs, from /proc (PostgreSQL's backends are not in Patroni's group). */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)])
    } catch { /* exited meanwhile */ }
  }
  const found: number[] = []
  const walk = (p: number) => { for (const c of children.get(p) ?? []) { found.push(c); walk(c) } }
  walk(pid)
  return found
}

/** SIGKILL to `pid` and everything below it, as a machine losing power does to them. */
export function killTree(pid: number | undefined): void {
  if (!pid) return
  const all = [pid, ...descendants(pid)]
  for (const p of all) {
    try { process.kill(p, 'SIGKILL') } catch { /* gone already */ }
  }
}

/** SIGKILL to a daemon's process group; resolves once it has exited. */
export async function killDaemon(d: Daemon | undefined): Promise<void> {
  if (!d || !d.alive()) return
  const exited = once(d.child, 'exit')
  try { process.kill(-d.child.pid!, 'SIGKILL') } catch { /* gone already */ }
  await exited
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Polls `probe` every `everyMs` until it returns a value other than undefined; rejects after `timeoutMs`. */
export async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = await probe().catch(() => undefined)
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(everyMs)
  }
}
