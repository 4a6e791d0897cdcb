import { connect, type Socket } from 'node:net'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { eventually } from '../../../test/helpers/http.js'
import { EventStream, type CloseReason } from './events.stream.js'

// One stream over a real socket, written to directly: what the heartbeat decides without the hub or a database.
let app: FastifyInstance
let socket: Socket | undefined
afterEach(async () => {
  socket?.destroy()
  await app.close()
})

async function openStream(): Promise<{ stream: EventStream; closed: CloseReason[]; socket: Socket }> {
  app = Fastify()
  let opened: EventStream | undefined
  const closed: CloseReason[] = []
  app.get('/events', async (_request, reply) => {
    opened = new EventStream(reply, {
      userId: 1, tokenVersion: 0, types: undefined, position: 0, maxBufferBytes: 1_048_576, stallMs: 10_000,
      expiresAt: Date.now() + 60_000, onClose: (_stream, reason) => closed.push(reason),
    })
    return opened.start()
  })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  socket = connect(port, '127.0.0.1')
  socket.write('GET /events HTTP/1.1\r\nhost: x\r\n\r\n')
  await eventually(async () => expect(opened).toBeDefined())
  return { stream: opened!, closed, socket }
}

const fill = (stream: EventStream, bytes: number) => {
  const frame = `data: ${'x'.repeat(1_000)}\n\n`
  for (let written = 0; written < bytes; written += frame.length) stream.write(frame)
}

describe('EventStream heartbeat', () => {
  it('ends a stream whose client took nothing between two heartbeats with more than 1 MiB waiting', async () => {
    const { stream, closed, socket: client } = await openStream()
    client.pause()
    // More than loopback's socket buffers take, so that over 1 MiB is left waiting in the process.
    fill(stream, 16 * 1_048_576)
    await eventually(async () => expect(stream.waiting()).toBeGreaterThan(1_048_576))
    stream.heartbeat()
    expect(closed).toEqual([])
    stream.heartbeat()
    expect(closed).toEqual(['slow'])
  })

  it('keeps a stream whose client reads, however much was sent', async () => {
    const { stream, closed, socket: client } = await openStream()
    let received = 0
    client.on('data', (chunk: Buffer) => { received += chunk.length })
    fill(stream, 16 * 1_048_576)
    stream.heartbeat()
    await eventually(async () => expect(received).toBeGreaterThan(16 * 1_048_576), 500)
    stream.heartbeat()
    stream.heartbeat()
    expect(closed).toEqual([])
  })
})
