import { Agent, request, type IncomingHttpHeaders } from 'node:http'
import { randomInt } from 'node:crypto'

export interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
  ms: number
  json<T = Record<string, unknown>>(): T
}

export interface SendOptions {
  token?: string | undefined
  json?: unknown
  /** The client address HAProxy forwards (X-Forwarded-For; Keel trusts the loopback proxy): one per simulated client. */
  ip?: string
  agent?: Agent
}

/** A random address in 10.0.0.0/8: a simulated client of its own, with rate-limit counters of its own. */
export const randomIp = () => `10.${randomInt(256)}.${randomInt(256)}.${randomInt(1, 255)}`

/** One HTTP request over real sockets (a keep-alive agent when given, else a fresh connection). */
export function send(base: string, method: string, path: string, options: SendOptions = {}): Promise<Answer> {
  const started = performance.now()
  const body = options.json === undefined ? undefined : JSON.stringify(options.json)
  const headers: Record<string, string> = { 'x-forwarded-for': options.ip ?? randomIp() }
  if (options.token) headers.authorization = `Bearer ${options.token}`
  if (body !== undefined) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) })
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method, headers, agent: options.agent ?? false }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (d: string) => { text += d })
      res.on('error', reject)
      res.on('end', () => resolve({
        status: res.statusCode!, headers: res.headers, body: text, ms: performance.now() - started,
        json: <T>() => JSON.parse(text) as T,
      }))
    })
    req.setTimeout(15_000, () => req.destroy(Object.assign(new Error('client timeout'), { code: 'CLIENT_TIMEOUT' })))
    req.on('error', reject)
    req.end(body)
  })
}

/** Socket-level failure name, as a client sees it instead of an answer. */
export const failureKind = (err: unknown) => (err as NodeJS.ErrnoException).code ?? (err as Error).message

/**
 * Requests of one phase: counts, worst latency, and every failure by kind (a status nobody expected, or a socket
 * error). A phase passes when `failures` is empty and its own assertions hold.
 */
export class Tally {
  requests = 0
  maxMs = 0
  readonly kinds = new Map<string, number>()
  readonly problems: string[] = []
  /** The first few failures with what was asked and when, for the report. */
  readonly samples: string[] = []
  private readonly startedAt = performance.now()

  /** Counts an answer; `expected` says which statuses are fine here (default: any 2xx). */
  answer(res: Answer, expected: (status: number) => boolean = (s) => s >= 200 && s < 300): Answer {
    this.requests++
    this.maxMs = Math.max(this.maxMs, res.ms)
    if (!expected(res.status)) this.count(`${res.status}`)
    return res
  }

  failure(err: unknown, ms = 0, what = ''): void {
    this.requests++
    this.maxMs = Math.max(this.maxMs, ms)
    this.count(failureKind(err))
    if (this.samples.length < 5) this.samples.push(`${failureKind(err)} ${what} at +${(performance.now() - this.startedAt).toFixed(0)} ms after ${ms.toFixed(0)} ms`)
  }

  /** Sends and counts; a socket error is counted and rethrown. */
  async send(base: string, method: string, path: string, options: SendOptions = {}, expected?: (status: number) => boolean): Promise<Answer> {
    const started = performance.now()
    try {
      return this.answer(await send(base, method, path, options), expected)
    } catch (err) {
      this.failure(err, performance.now() - started, `${method} ${path}`)
      throw err
    }
  }

  check(ok: boolean, problem: string): void {
    if (!ok) this.problems.push(problem)
  }

  errors(): number {
    let n = 0
    for (const v of this.kinds.values()) n += v
    return n
  }

  private count(kind: string) {
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + 1)
  }
}
