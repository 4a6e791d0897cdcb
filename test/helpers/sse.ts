import { request } from 'node:http'
import type { FastifyInstance } from 'fastify'

export interface SseMessage {
  id: string
  data: Record<string, unknown> & { id: number; type: string; row_id: number }
}

export interface SseClient {
  status: number
  headers: Record<string, string | string[] | undefined>
  messages: SseMessage[]
  comments: string[]
  /** True once the answer is over (cleanly or not). */
  ended: boolean
  /** True when the server finished the answer properly (its last chunk), as a drain does. */
  finished: boolean
  close(): void
}

/** The base URL of a test app, listening on a real socket (once). */
export async function listenOnce(app: FastifyInstance): Promise<string> {
  const address = app.server.address()
  if (address && typeof address === 'object') return `http://127.0.0.1:${address.port}`
  await app.listen({ host: '127.0.0.1', port: 0 })
  return listenOnce(app)
}

/**
 * Opens `GET path` as an EventSource would, over a socket, and parses the messages as they arrive; `pauseMs` reads
 * nothing for that long first (a client on a slow link).
 */
export function openSse(base: string, path: string, headers: Record<string, string> = {}, pauseMs = 0): Promise<SseClient> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { headers: { accept: 'text/event-stream', ...headers } }, (res) => {
      const client: SseClient = {
        status: res.statusCode!, headers: res.headers, messages: [], comments: [], ended: false, finished: false, close: () => req.destroy(),
      }
      let buffer = ''
      res.setEncoding('utf8')
      res.on('data', (chunk: string) => {
        buffer += chunk
        for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, end)
          buffer = buffer.slice(end + 2)
          parseBlock(client, block)
        }
      })
      if (pauseMs) {
        res.pause()
        setTimeout(() => res.resume(), pauseMs)
      }
      const done = () => { client.ended = true }
      res.on('end', () => {
        client.finished = true
        done()
      })
      res.on('close', done)
      res.on('error', done)
      resolve(client)
    })
    req.on('error', reject)
    req.end()
  })
}

function parseBlock(client: SseClient, block: string) {
  let id: string | undefined
  let data: string | undefined
  for (const line of block.split('\n')) {
    if (line.startsWith(':')) client.comments.push(line.slice(1).trim())
    else if (line.startsWith('id: ')) id = line.slice(4)
    else if (line.startsWith('data: ')) data = line.slice(6)
  }
  if (data !== undefined) client.messages.push({ id: id!, data: JSON.parse(data) as SseMessage['data'] })
}
