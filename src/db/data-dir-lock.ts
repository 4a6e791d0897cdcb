import { createHash } from 'node:crypto'
import { realpathSync, rmSync, statSync } from 'node:fs'
import { connect, createServer, type Server } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Raised when another live process already serves this DATA_DIR. */
export class DataDirLockedError extends Error {
  override name = 'DataDirLockedError'
}

// sun_path holds 108 bytes on Linux, 104 on macOS.
const MAX_SOCKET_PATH_BYTES = 100

/**
 * Locks `dataDir` for this process with a listening Unix socket, `DATA_DIR/keel.sock`: the kernel stops the
 * listener the moment its holder dies (kill -9, a zombie its parent has not reaped, a process still tearing
 * down), so a dead holder never blocks a restart, and a live one answers a connection, so it is always refused.
 * PID files cannot tell those apart. Resolves with the release function.
 */
export async function acquireDataDirLock(dataDir: string): Promise<() => Promise<void>> {
  const path = socketPath(dataDir)
  for (let attempt = 0; attempt < 10; attempt++) {
    if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 20 * attempt))
    const server = await tryListen(path)
    if (server) return release(server)
    const holder = await askHolder(path)
    if (holder !== undefined) {
      throw new DataDirLockedError(
        `DATA_DIR ${dataDir} is in use by another Keel process (pid ${holder}). ` +
        'The embedded database serves one process only: stop the other one, use another DATA_DIR, or set DATABASE_URL.')
    }
    removeStaleSocket(path)
  }
  throw new DataDirLockedError(`could not lock DATA_DIR ${dataDir}: ${path} keeps reappearing`)
}

function socketPath(dataDir: string): string {
  const inDir = join(dataDir, 'keel.sock')
  if (Buffer.byteLength(inDir) <= MAX_SOCKET_PATH_BYTES) return inDir
  // A deep DATA_DIR: a short name derived from its real path, the same for every process that opens it.
  const id = createHash('sha256').update(realpathSync(dataDir)).digest('hex').slice(0, 32)
  return process.platform === 'linux' ? `\0keel-data-dir-${id}` : join(tmpdir(), `keel-${id}.sock`)
}

/** Listens on `path`; undefined when it is taken (by a live holder, or by the stale file of a dead one). */
function tryListen(path: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    // The holder tells whoever connects who it is, for the refusal message.
    const server = createServer((socket) => socket.end(String(process.pid)))
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(undefined)
      else reject(err)
    })
    server.listen(path, () => {
      server.unref() // the lock never keeps the process alive
      resolve(server)
    })
  })
}

/**
 * The pid a live holder answers with; undefined when nothing listens (the file a dead holder left) or when the
 * holder dies while we ask (a process being killed still has its listener until its descriptors are closed).
 * A holder too busy to answer within 2 s is alive.
 */
function askHolder(path: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let answer = ''
    const socket = connect(path)
    socket.setTimeout(2_000, () => {
      resolve('unknown')
      socket.destroy()
    })
    socket.on('data', (d) => { answer += d })
    socket.on('error', () => { /* the outcome is decided on close */ })
    socket.on('close', () => resolve(answer.trim() || undefined))
  })
}

function removeStaleSocket(path: string): void {
  if (path.startsWith('\0')) return // abstract sockets have no file: the kernel freed the name with its holder
  try {
    if (statSync(path).isSocket()) rmSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
}

/** Closing the listener frees the lock (Node removes the socket file with it). */
function release(server: Server): () => Promise<void> {
  let released: Promise<void> | undefined
  return () => released ??= new Promise<void>((resolve) => server.close(() => resolve()))
}
