import { Tally } from './client.js'
import { createAccount } from './checks.js'
import { CHECK } from './haproxy.js'
import { startLoad } from './load.js'
import type { Stack } from './stack.js'

const CLIENTS = 8
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function tokensFor(stack: Stack): Promise<string[]> {
  const setup = new Tally()
  return Promise.all(Array.from({ length: CLIENTS }, async () => (await createAccount(setup, stack.haproxy.base)).access))
}

/** Every id a POST got 201 for is in the database. */
async function assertKept(t: Tally, stack: Stack, ids: number[]): Promise<void> {
  const rows = await stack.sql<{ n: string }>('select count(*) as n from items where id = any($1::int[])', [ids])
  t.check(Number(rows[0]?.n) === ids.length, `${ids.length} acknowledged POSTs, ${rows[0]?.n} of them in the database`)
  t.check(ids.length > 0, 'the load created items')
}

/** SIGTERM one instance, wait until it is back and HAProxy has it UP, then the next: zero failed requests. */
export async function checkRollingRestart(stack: Stack): Promise<Tally> {
  const t = new Tally()
  const load = startLoad({ base: stack.haproxy.base, tokens: await tokensFor(stack), tally: t })
  await sleep(1_000)
  for (const instance of stack.instances) {
    const code = await instance.terminate()
    t.check(code === 0, `${instance.name} exited ${code} after SIGTERM`)
    await instance.start()
    await stack.allUp()
  }
  await sleep(1_000)
  await load.stop()
  t.check(t.errors() === 0, `${t.errors()} failed requests during the rolling restart`)
  const restartedServed = new Set(load.served.map((s) => s.by))
  t.check(restartedServed.size === 3, `answers came from ${[...restartedServed].join(', ')}`)
  await assertKept(t, stack, load.acknowledged)
  return t
}

/** kill -9 of one instance under load: HAProxy stops routing to it within its check interval, no acknowledged write lost. */
export async function checkKill(stack: Stack): Promise<{ tally: Tally; downMs: number; counters: Record<string, string> }> {
  const t = new Tally()
  const victim = stack.instances[1]!
  const load = startLoad({ base: stack.haproxy.base, tokens: await tokensFor(stack), tally: t })
  await sleep(1_000)
  await victim.kill()
  const killedAt = performance.now()
  let downAt: number | undefined
  while (performance.now() - killedAt < 10_000) {
    if ((await stack.haproxy.states()).get(victim.name)?.startsWith('DOWN')) {
      downAt = performance.now()
      break
    }
    await sleep(20)
  }
  const downMs = downAt === undefined ? Infinity : downAt - killedAt
  // fall × inter is the detection bound; one more interval for where the kill fell in the check cycle.
  const boundMs = CHECK.intervalMs * (CHECK.fall + 1)
  t.check(downMs <= boundMs, `HAProxy marked ${victim.name} DOWN after ${downMs.toFixed(0)} ms (bound ${boundMs} ms)`)
  await sleep(1_000)
  await load.stop()
  const late = load.served.filter((s) => s.by === victim.name && downAt !== undefined && s.at > downAt)
  t.check(late.length === 0, `${late.length} answers came from ${victim.name} after it was marked DOWN`)
  // Only what was in flight on the killed instance may fail: at most one request per client.
  t.check(t.errors() <= CLIENTS, `${t.errors()} failed requests (at most ${CLIENTS}: one in flight per client)`)
  await assertKept(t, stack, load.acknowledged)
  const counters = await stack.haproxy.counters(victim.name)
  await victim.start()
  await stack.allUp()
  return { tally: t, downMs, counters }
}

/**
 * PgBouncer stopped (every connection cut) under load, then started again: meanwhile only 503s with Retry-After
 * (from Keel, or from HAProxy once no instance is ready); service back within seconds; nothing acknowledged lost.
 */
export async function checkPoolerRestart(stack: Stack): Promise<{ outage: Tally; after: Tally; recoveryMs: number; refusals: number }> {
  const outage = new Tally()
  const tokens = await tokensFor(stack)
  const badRefusals: string[] = []
  let refusals = 0
  const load = startLoad({
    base: stack.haproxy.base, tokens, tally: outage,
    expected: (res) => {
      if (res.status >= 200 && res.status < 300) return true
      const refused = res.status === 503 && Number(res.headers['retry-after']) > 0
        && String(res.headers['content-type']).startsWith('application/problem+json')
      if (refused) refusals++
      else badRefusals.push(`${res.status} ${res.body.slice(0, 120)}`)
      return refused
    },
  })
  await sleep(1_000)
  await stack.pgbouncer.stop()
  await sleep(3_000)
  await stack.pgbouncer.start()
  const restartedAt = performance.now()
  await stack.allUp(20_000).catch(() => undefined)
  const recoveryMs = performance.now() - restartedAt
  await load.stop()
  outage.check(badRefusals.length === 0, `answers other than 2xx or 503 + Retry-After: ${badRefusals.slice(0, 3).join(' | ')}`)
  outage.check(outage.errors() === 0, `${outage.errors()} socket errors or unexpected statuses while PgBouncer was away`)
  outage.check(recoveryMs < 10_000, `every instance ready again ${recoveryMs.toFixed(0)} ms after PgBouncer restarted`)
  await assertKept(outage, stack, load.acknowledged)

  // Full service: a steady stretch right after recovery with nothing but 2xx.
  const after = new Tally()
  const steady = startLoad({ base: stack.haproxy.base, tokens, tally: after })
  await sleep(2_000)
  await steady.stop()
  after.check(after.errors() === 0, `${after.errors()} failed requests after PgBouncer came back`)
  await assertKept(after, stack, steady.acknowledged)
  outage.check(refusals > 0, 'no request was refused while PgBouncer was away: did the outage happen?')
  return { outage, after, recoveryMs, refusals }
}
