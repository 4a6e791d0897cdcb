import { PassThrough } from 'node:stream'
import type { FastifyReply } from 'fastify'

export type CloseReason = 'client' | 'slow' | 'revoked' | 'expired' | 'shutdown' | 'error'

export interface StreamOptions {
  userId: number
  tokenVersion: number
  /** Event types to deliver; undefined: all. */
  types: ReadonlySet<string> | undefined
  /** The last event id the client has (Last-Event-ID), or the hub's position for a new stream. */
  position: number
  /**
   * Past this many bytes waiting to be written the stream gets no more live events: it reads the log at the pace its
   * client takes them (events.hub.ts), so what waits for one client is at most this plus one page of the log.
   */
  maxBufferBytes: number
  /** A client that takes nothing of what waits for this long is too slow: it is disconnected. */
  stallMs: number
  /** When the stream ends by itself, so credentials are checked again on reconnection (the access token's lifetime). */
  expiresAt: number
  onClose(stream: EventStream, reason: CloseReason): void
}

/**
 * One open `text/event-stream` answer. The body is a PassThrough Fastify pipes to the socket, so the answer goes
 * through every onSend hook (security headers, request id) like any other.
 */
export class EventStream {
  readonly userId: number
  readonly tokenVersion: number
  readonly types: ReadonlySet<string> | undefined
  readonly expiresAt: number
  /** Every event up to this id has been written (or was not for this client). */
  position: number
  closed = false
  /** Reading the log on its own (a resume, or it fell behind the hub); the hub hands it nothing meanwhile. */
  catchingUp = false
  private waitingAtBeat = Infinity
  private readonly body = new PassThrough()
  private readonly options: StreamOptions

  constructor(private readonly reply: FastifyReply, options: StreamOptions) {
    this.options = options
    this.userId = options.userId
    this.tokenVersion = options.tokenVersion
    this.types = options.types
    this.position = options.position
    this.expiresAt = options.expiresAt
    reply.raw.once('close', () => this.close('client'))
  }

  /** Starts the answer: headers, the reconnection delay, and a first comment so proxies pass the headers on at once. */
  start(): FastifyReply {
    this.body.write('retry: 2000\n: connected\n\n')
    return this.reply
      .header('content-type', 'text/event-stream; charset=utf-8')
      .header('cache-control', 'no-cache, no-store')
      // nginx would otherwise buffer the stream.
      .header('x-accel-buffering', 'no')
      .send(this.body)
  }

  wants(type: string): boolean {
    return !this.types || this.types.has(type)
  }

  write(text: string): void {
    if (!this.closed) this.body.write(text)
  }

  /**
   * Every heartbeat: a comment keeps proxies from timing the stream out. A client that took nothing since the last
   * one with more than the limit waiting is disconnected (on an idle log no page comes to find it).
   */
  heartbeat(): void {
    const waiting = this.waiting()
    if (waiting > this.options.maxBufferBytes && waiting >= this.waitingAtBeat) return this.close('slow')
    this.write(': keep-alive\n\n')
    this.waitingAtBeat = this.waiting()
  }

  /** Bytes written and not yet taken by the client: its body's buffers and the socket's. */
  waiting(): number {
    return this.body.writableLength + this.body.readableLength + this.reply.raw.writableLength
  }

  overLimit(): boolean {
    return this.waiting() > this.options.maxBufferBytes
  }

  /**
   * Resolves once what waits is under the limit again (true), or false once the stream is closed: a client that takes
   * nothing for `stallMs` is disconnected here as too slow.
   */
  async writable(): Promise<boolean> {
    let waiting = this.waiting()
    let progressAt = Date.now()
    while (!this.closed && waiting > this.options.maxBufferBytes) {
      await new Promise((resolve) => setTimeout(resolve, 20))
      const now = this.waiting()
      if (now < waiting) progressAt = Date.now()
      else if (Date.now() - progressAt > this.options.stallMs) this.close('slow')
      waiting = now
    }
    return !this.closed
  }

  /** Ends the answer cleanly (the client reconnects with Last-Event-ID); a slow client's socket is destroyed. */
  close(reason: CloseReason): void {
    if (this.closed) return
    this.closed = true
    if (reason === 'slow') this.reply.raw.destroy()
    else this.body.end()
    this.options.onClose(this, reason)
  }
}
