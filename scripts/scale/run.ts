import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { findPgBouncer } from './pgbouncer.js'
import { checkApi, checkRateLimits, checkRevocation } from './checks.js'
import { checkKill, checkPoolerRestart, checkRollingRestart } from './load-checks.js'
import { startStack, type Stack } from './stack.js'
import { Tally } from './client.js'

/**
 * `npm run test:scale`: PgBouncer (transaction pooling) + Redis + three Keel instances (WORKERS=2) + HAProxy on
 * this machine, and every check of issue #12 against it over real sockets. Prints one table; exits 1 on any failure.
 * SCALE_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) is the server; SCALE_PORT the first of
 * ten ports (default 18200).
 */
interface Row { phase: string; tally: Tally; note?: string }

async function main(): Promise<number> {
  for (const [binary, found] of [['pgbouncer', findPgBouncer()], ['haproxy', which('haproxy')], ['redis-server', which('redis-server')]] as const) {
    if (!found) {
      console.error(`test:scale needs ${binary} (Debian: apt-get install -y pgbouncer haproxy redis-server)`)
      return 1
    }
  }
  const upstream = process.env.SCALE_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
  const basePort = Number(process.env.SCALE_PORT ?? 18200)
  const started = performance.now()
  if (spawnSync('npm', ['run', '--silent', 'build'], { stdio: 'inherit' }).status !== 0) return 1
  console.log(`starting PgBouncer (transaction), Redis, 3 Keel instances (WORKERS=2), HAProxy on ports ${basePort}-${basePort + 5}`)
  const stack = await startStack({ upstream, basePort, workers: 2 })
  console.log(`stack up in ${((performance.now() - started) / 1000).toFixed(1)} s`)
  const rows: Row[] = []
  try {
    await runChecks(stack, rows)
  } catch (err) {
    console.error('a check could not run to its end:', err)
    const aborted = new Tally()
    aborted.check(false, String(err))
    rows.push({ phase: 'aborted', tally: aborted })
  } finally {
    const logs = mkdtempSync(join(tmpdir(), 'keel-scale-logs-'))
    writeFileSync(join(logs, 'haproxy.log'), stack.haproxy.output())
    writeFileSync(join(logs, 'pgbouncer.log'), stack.pgbouncer.output())
    for (const i of stack.instances) writeFileSync(join(logs, `${i.name}.log`), i.output())
    console.log(`logs of this run: ${logs}`)
    await stack.stop()
  }
  printTable(rows)
  const failed = rows.filter((r) => r.tally.problems.length > 0)
  for (const r of failed) for (const p of r.tally.problems) console.log(`FAIL ${r.phase}: ${p}`)
  for (const r of rows) for (const s of r.tally.samples) console.log(`failure in ${r.phase}: ${s}`)
  console.log(failed.length ? `test:scale: ${failed.length} of ${rows.length} phases failed` : `test:scale: all ${rows.length} phases passed`)
  return failed.length ? 1 : 0
}

async function runChecks(stack: Stack, rows: Row[]): Promise<void> {
  // SCALE_ONLY=kill,pooler (words of the phase names) runs a subset while working on one check.
  const only = (process.env.SCALE_ONLY ?? '').split(',').filter(Boolean)
  const step = async (phase: string, run: () => Promise<Tally | { tally: Tally; note: string }>) => {
    if (only.length && !only.some((word) => phase.includes(word))) return
    console.log(`-- ${phase}`)
    const result = await run()
    rows.push('tally' in result ? { phase, ...result } : { phase, tally: result })
  }
  await step('API via HAProxy → PgBouncer', () => checkApi(stack))
  await step('rate limits across 3 instances', () => checkRateLimits(stack))
  await step('revocation on A → B, C', () => checkRevocation(stack))
  await step('rolling restart under load', () => checkRollingRestart(stack))
  await step('kill -9 one instance under load', async () => {
    const { tally, downMs, counters } = await checkKill(stack)
    console.log(`   HAProxy's counters of the killed instance: ${JSON.stringify(counters)}`)
    return { tally, note: `DOWN in HAProxy after ${downMs.toFixed(0)} ms` }
  })
  let after: Tally | undefined
  await step('PgBouncer stopped 3 s under load', async () => {
    const result = await checkPoolerRestart(stack)
    after = result.after
    return { tally: result.outage, note: `${result.refusals} × 503 + Retry-After; all ready ${result.recoveryMs.toFixed(0)} ms after restart` }
  })
  if (after) rows.push({ phase: 'after PgBouncer is back', tally: after })
}

function printTable(rows: Row[]): void {
  const header = ['phase', 'requests', 'errors', 'errors by kind', 'max ms', 'result', 'note']
  const lines = rows.map((r) => [
    r.phase, String(r.tally.requests), String(r.tally.errors()),
    [...r.tally.kinds].map(([k, n]) => `${k}: ${n}`).join(', ') || '-',
    r.tally.maxMs.toFixed(0), r.tally.problems.length ? 'FAIL' : 'pass', r.note ?? '',
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const format = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`
  console.log(['', format(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...lines.map(format), ''].join('\n'))
}

function which(binary: string): string | undefined {
  return [...(process.env.PATH ?? '').split(':'), '/usr/sbin'].map((dir) => `${dir}/${binary}`).find((path) => existsSync(path))
}

main().then((code) => process.exit(code), (err: unknown) => {
  console.error('test:scale could not start:', err)
  process.exit(1)
})
