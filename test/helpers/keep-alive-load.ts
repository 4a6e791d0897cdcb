import { Agent, request } from 'node:http'

export interface Outcome {
  method: 'GET' | 'POST'
  /** The item name a POST tried to create. */
  name?: string
  status?: number
  /** Socket-level failure: ECONNRESET, ECONNREFUSED, EPIPE, "socket hang up"… */
  error?: string
  /** performance.now() when the answer (or the failure) arrived. */
  at: number
  connectionClose?: boolean
}

/**
 * Clients that each keep one keep-alive connection (Node's own Agent, as most HTTP clients do) and alternate
 * item POSTs and GETs until `stop()`, or until the server refuses connections. Every request's fate is kept:
 * an answer, or the socket error a client would see instead.
 */
export function keepAliveLoad(base: string, token: string, clients: number) {
  const outcomes: Outcome[] = []
  let stopping = false
  const agents = Array.from({ length: clients }, () => new Agent({ keepAlive: true, maxSockets: 1 }))
  const send = (agent: Agent, method: 'GET' | 'POST', path: string, body?: string) =>
    new Promise<{ status: number; body: string; connectionClose: boolean }>((resolve, reject) => {
      const headers: Record<string, string> = { authorization: `Bearer ${token}` }
      if (body) Object.assign(headers, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) })
      const req = request(`${base}${path}`, { method, agent, headers }, (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d) => { text += d })
        res.on('end', () => resolve({ status: res.statusCode!, body: text, connectionClose: res.headers.connection === 'close' }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(body)
    })
  const run = async (client: number) => {
    const agent = agents[client]!
    let lastId: number | undefined
    for (let n = 0; !stopping; n++) {
      const post = n % 2 === 0 || lastId === undefined
      const name = post ? `c${client}-${n}` : undefined
      const method = post ? 'POST' : 'GET'
      try {
        const res = post
          ? await send(agent, 'POST', '/api/v1/items', JSON.stringify({ name }))
          : await send(agent, 'GET', `/api/v1/items/${lastId}`)
        if (post && res.status === 201) lastId = (JSON.parse(res.body) as { id: number }).id
        outcomes.push({ method, name, status: res.status, at: performance.now(), connectionClose: res.connectionClose })
      } catch (err) {
        const error = (err as NodeJS.ErrnoException).code ?? (err as Error).message
        outcomes.push({ method, name, error, at: performance.now() })
        if (error === 'ECONNREFUSED') return // the server has stopped listening: this client is done
      }
    }
  }
  const done = Promise.all(agents.map((_, i) => run(i)))
  return {
    outcomes,
    async stop() {
      stopping = true
      await done
      for (const agent of agents) agent.destroy()
    },
    /** Resolves when every client has seen the server refuse connections. */
    finished: done,
  }
}
