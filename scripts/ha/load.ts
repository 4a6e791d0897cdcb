import { Agent } from 'node:http'
import { send, failureKind } from '../scale/client.js'
import { sleep } from './processes.js'

/** One answer (or socket failure, status 0) of the load, with when it was sent and when it came back (performance.now()). */
export interface Event {
  kind: 'read' | 'write'
  status: number
  sent: number
  at: number
  failure?: string
  /** A 503 without Retry-After: a failure too. */
  noRetryAfter?: boolean
}

export interface Load {
  events: Event[]
  /** Ids of items whose POST got 201: each must be in the database afterwards. */
  acknowledged: number[]
  stop(): Promise<void>
}

export interface Client { base: string; token: string; kind: 'read' | 'write'; itemId?: number }

/**
 * Writers create items; readers read one item of their own over and over (a user who has not written for a while:
 * a replica may serve them). Each client keeps one keep-alive connection and goes as fast as answers come; after
 * a 503 it waits 100 ms (a client honouring Retry-After would wait longer; this one keeps the pressure on).
 */
export function startLoad(clients: Client[]): Load {
  const events: Event[] = []
  const acknowledged: number[] = []
  let stopping = false
  const run = async (c: Client, n: number) => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 })
    for (let i = 0; !stopping; i++) {
      const sent = performance.now()
      try {
        const res = c.kind === 'write'
          ? await send(c.base, 'POST', '/api/v1/items', { token: c.token, agent, json: { name: `ha c${n} n${i}` } })
          : await send(c.base, 'GET', `/api/v1/items/${c.itemId}`, { token: c.token, agent })
        events.push({ kind: c.kind, status: res.status, sent, at: performance.now(), noRetryAfter: res.status === 503 && !res.headers['retry-after'] })
        if (res.status === 201) acknowledged.push(res.json<{ id: number }>().id)
        if (res.status === 503) await sleep(100)
      } catch (err) {
        events.push({ kind: c.kind, status: 0, sent, at: performance.now(), failure: failureKind(err) })
        await sleep(50)
      }
    }
    agent.destroy()
  }
  const done = Promise.all(clients.map((c, i) => run(c, i)))
  return {
    events,
    acknowledged,
    async stop() {
      stopping = true
      await done
    },
  }
}

/** Counts by status (0 = socket failure) of the events matching `filter`. */
export function statuses(events: Event[], filter: (e: Event) => boolean = () => true): Map<number, number> {
  const counts = new Map<number, number>()
  for (const e of events) if (filter(e)) counts.set(e.status, (counts.get(e.status) ?? 0) + 1)
  return counts
}

/** Answers that are neither 2xx nor a 503 with Retry-After: what no client may see, failover or not. */
export function failures(events: Event[]): Event[] {
  return events.filter((e) => !(e.status >= 200 && e.status < 300) && !(e.status === 503 && !e.noRetryAfter))
}
