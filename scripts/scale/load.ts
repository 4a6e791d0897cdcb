import { Agent } from 'node:http'
import { send, type Answer, type Tally } from './client.js'

export interface LoadOptions {
  base: string
  /** One bearer token per client (each client owns the items it creates). */
  tokens: string[]
  tally: Tally
  /** Statuses that count as success in this phase (default: 2xx). */
  expected?: (res: Answer) => boolean
}

export interface Load {
  /** Ids of every item a POST got 201 for: each must be in the database afterwards. */
  acknowledged: number[]
  /** Answers by `X-Served-By` instance, with the time each arrived (performance.now()). */
  served: { by: string; at: number }[]
  /** Stops the clients after their current request and resolves once all are idle. */
  stop(): Promise<void>
}

/**
 * Steady load through the load balancer: each client keeps one keep-alive connection (Node's Agent, as most
 * clients do) and alternates creating an item with reading the last one it created, as fast as answers come.
 * Every answer and every socket error goes to the tally.
 */
export function startLoad(options: LoadOptions): Load {
  const { base, tokens, tally } = options
  const expected = options.expected ?? ((res) => res.status >= 200 && res.status < 300)
  const acknowledged: number[] = []
  const served: { by: string; at: number }[] = []
  let stopping = false
  const run = async (token: string, client: number) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    let lastId: number | undefined
    for (let n = 0; !stopping; n++) {
      const post = n % 2 === 0 || lastId === undefined
      const started = performance.now()
      try {
        const res = post
          ? await send(base, 'POST', '/api/v1/items', { token, agent, json: { name: `load c${client} n${n}` } })
          : await send(base, 'GET', `/api/v1/items/${lastId}`, { token, agent })
        tally.answer(res, () => expected(res))
        if (typeof res.headers['x-served-by'] === 'string') served.push({ by: res.headers['x-served-by'], at: performance.now() })
        if (post && res.status === 201) acknowledged.push(lastId = res.json<{ id: number }>().id)
        // A refused request (503 while the database is away) is retried after a pause, as Retry-After asks.
        if (res.status === 503) await new Promise((r) => setTimeout(r, 200))
      } catch (err) {
        tally.failure(err, performance.now() - started, post ? 'POST /api/v1/items' : `GET /api/v1/items/${lastId}`)
        await new Promise((r) => setTimeout(r, 50))
      }
    }
    agent.destroy()
  }
  const done = Promise.all(tokens.map((t, i) => run(t, i)))
  return {
    acknowledged,
    served,
    async stop() {
      stopping = true
      await done
    },
  }
}
