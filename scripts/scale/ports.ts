import { once } from 'node:events'
import { connect, createServer } from 'node:net'

/** A port in [from, to] nothing listens on now (the range keeps parallel engineers' servers apart). */
export async function freePortIn(from: number, to: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = from + Math.floor(Math.random() * (to - from + 1))
    const server = createServer()
    try {
      server.listen(port, '127.0.0.1')
      await once(server, 'listening')
      server.close()
      await once(server, 'close')
      return port
    } catch { /* taken: try another */ }
  }
  throw new Error(`no free port in ${from}-${to}`)
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port; rejects after ~10 s or once `gaveUp()`. */
export async function waitForPort(port: number, gaveUp: () => boolean = () => false): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (gaveUp()) throw new Error(`nothing listens on port ${port}: the process exited`)
    const socket = connect(port, '127.0.0.1')
    const ok = await new Promise<boolean>((resolve) => {
      socket.once('connect', () => resolve(true))
      socket.once('error', () => resolve(false))
    })
    socket.destroy()
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`nothing listens on port ${port} after 10 s`)
}

/** The ports in [from, to] something already listens on. */
export async function busyPorts(from: number, to: number): Promise<number[]> {
  const busy: number[] = []
  for (let port = from; port <= to; port++) {
    const server = createServer()
    server.listen(port, '127.0.0.1')
    const free = await new Promise<boolean>((resolve) => {
      server.once('listening', () => resolve(true))
      server.once('error', () => resolve(false))
    })
    if (free) {
      server.close()
      await once(server, 'close')
    } else busy.push(port)
  }
  return busy
}
