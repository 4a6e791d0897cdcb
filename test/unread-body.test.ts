import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from './helpers/app.js'
import { createUser, type TestUser } from './helpers/factories.js'

let t: TestApp
let user: TestUser
let port: number
beforeAll(async () => {
  t = await buildTestApp()
  user = await createUser(t.app)
  await t.app.listen({ host: '127.0.0.1', port: 0 })
  port = (t.app.server.address() as AddressInfo).port
})
afterAll(async () => t.close())

const MIB = 1_048_576

/**
 * What an ordinary client does (Python requests/httpx, Node fetch): send the whole request, body included,
 * and only then read the answer. Resolves with everything the server sent, or the socket error the client saw.
 */
function sendWholeThenRead(head: string, body: AsyncIterable<Buffer>): Promise<{ response: string; error?: string; sent: number }> {
  return new Promise((resolve) => {
    // allowHalfOpen: keep sending after the server's FIN, as a client busy writing its body does.
    const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true })
    const received: Buffer[] = []
    let error: string | undefined
    socket.on('data', (d) => received.push(d))
    socket.on('error', (err: NodeJS.ErrnoException) => { error = err.code ?? err.message })
    let sent = 0
    socket.on('close', () => resolve({ response: Buffer.concat(received).toString('latin1'), error, sent }))
    socket.on('connect', async () => {
      try {
        socket.write(head)
        for await (const chunk of body) {
          if (socket.destroyed) return
          sent += chunk.length
          if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r))
        }
        socket.end()
      } catch { /* the error handler has it */ }
    })
  })
}

const CHUNK = Buffer.alloc(64 * 1024, 0x61)
/** `total` bytes of body, one reused buffer at a time, so the client itself holds no more than a chunk. */
async function* chunks(total: number) {
  for (let sent = 0; sent < total; sent += CHUNK.length) yield CHUNK
}
/** The same as chunked transfer coding. */
async function* chunked(total: number) {
  const frame = Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from('\r\n')])
  for (let sent = 0; sent < total; sent += CHUNK.length) yield frame
  yield Buffer.from('0\r\n\r\n')
}

function expectProblemResponse(result: { response: string; error?: string }, status: number) {
  expect(result.error, result.response.slice(0, 300)).toBeUndefined()
  const [head] = result.response.split('\r\n\r\n')
  expect(head).toMatch(new RegExp(`^HTTP/1.1 ${status} `))
  expect(head).toMatch(/\r\ncontent-type: application\/problem\+json/i)
  expect(head).toMatch(/\r\nx-request-id: \S+/i)
  expect(head).toMatch(/\r\nx-content-type-options: nosniff/i)
  expect(head).toMatch(/\r\nconnection: close/i)
}

describe('an answer sent before the body was read reaches a client that sends its whole body first', () => {
  it('413 for a 5 MiB body with Content-Length', async () => {
    const head = `POST /api/v1/items HTTP/1.1\r\nhost: x\r\nauthorization: ${user.headers.authorization}\r\ncontent-type: application/json\r\ncontent-length: ${5 * MIB}\r\n\r\n`
    expectProblemResponse(await sendWholeThenRead(head, chunks(5 * MIB)), 413)
  })

  it('413 for a 5 MiB chunked body', async () => {
    const head = `POST /api/v1/items HTTP/1.1\r\nhost: x\r\nauthorization: ${user.headers.authorization}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`
    expectProblemResponse(await sendWholeThenRead(head, chunked(5 * MIB)), 413)
  })

  it('401 for a 5 MiB body without a token, 400 for one sent to DELETE, 415 for a 5 MiB form', async () => {
    const post = (headers: string) => `POST /api/v1/items HTTP/1.1\r\nhost: x\r\n${headers}content-length: ${5 * MIB}\r\n\r\n`
    expectProblemResponse(await sendWholeThenRead(post('content-type: application/json\r\n'), chunks(5 * MIB)), 401)
    expectProblemResponse(await sendWholeThenRead(post(`authorization: ${user.headers.authorization}\r\ncontent-type: application/x-www-form-urlencoded\r\n`), chunks(5 * MIB)), 415)
    const del = `DELETE /api/v1/items/1 HTTP/1.1\r\nhost: x\r\nauthorization: ${user.headers.authorization}\r\ncontent-type: application/json\r\ncontent-length: ${5 * MIB}\r\n\r\n`
    expectProblemResponse(await sendWholeThenRead(del, chunks(5 * MIB)), 400)
  })

  it('Node fetch, sending 5 MiB, reads the 413 problem with its headers', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/items`, {
      method: 'POST', headers: { ...user.headers, 'content-type': 'application/json' }, body: Buffer.alloc(5 * MIB, 0x20),
    })
    expect(res.status).toBe(413)
    expect(res.headers.get('x-request-id')).toBeTruthy()
    expect(await res.json()).toMatchObject({ status: 413, title: 'Content Too Large' })
  })

  it('the discarded body is not buffered: 48 MiB read and dropped leave the RSS where it was', async () => {
    const head = `POST /api/v1/items HTTP/1.1\r\nhost: x\r\nauthorization: ${user.headers.authorization}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`
    const before = process.memoryUsage().rss
    const result = await sendWholeThenRead(head, chunked(48 * MIB))
    expectProblemResponse(result, 413)
    expect(result.sent).toBeGreaterThan(48 * MIB)
    // Read buffers not yet collected show up too (about 27 MiB here); keeping the body would add all 48 MiB on top.
    expect(process.memoryUsage().rss - before).toBeLessThan(40 * MIB)
  })

  it('a client that never stops sending is cut off after the bound, having been sent the answer first', async () => {
    const head = `POST /api/v1/items HTTP/1.1\r\nhost: x\r\nauthorization: ${user.headers.authorization}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`
    async function* endless() {
      const frame = Buffer.concat([Buffer.from(`${CHUNK.length.toString(16)}\r\n`), CHUNK, Buffer.from('\r\n')])
      for (;;) yield frame
    }
    // Without the bound this never resolves and the test times out.
    const result = await sendWholeThenRead(head, endless())
    expect(result.response).toMatch(/^HTTP\/1.1 413 /)
    expect(result.sent).toBeGreaterThan(64 * MIB)
  })
})
