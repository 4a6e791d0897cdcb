import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { EXHAUSTED_TOKEN, type LoadSpec } from './load-spec.js'
import { processTree, startCpuMeter, sum } from './proc-stats.js'

/** wrk from WRK, /usr/bin or PATH; undefined when it is not installed (the bench then uses autocannon). */
export function findWrk(): string | undefined {
  if (process.env.WRK) return process.env.WRK
  if (existsSync('/usr/bin/wrk')) return '/usr/bin/wrk'
  const which = spawnSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' })
  return which.status === 0 ? which.stdout.trim() || undefined : undefined
}

const lua = (text: string) => `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`
const luaList = (values: readonly string[]) => `{${values.map(lua).join(',')}}`

/**
 * The Lua script wrk runs: a fixed request is built once by wrk itself (its fastest path); random paths and the
 * refresh rotation are built per request. `done` prints one JSON line with the figures and, for refresh, the tokens
 * still unused, which go back to the bench's pool.
 */
export function wrkScript(spec: LoadSpec): string {
  const lines = [`wrk.method = ${lua(spec.method)}`]
  for (const [name, value] of Object.entries(spec.headers ?? {})) lines.push(`wrk.headers[${lua(name)}] = ${lua(value)}`)
  if (spec.body !== undefined) lines.push(`wrk.body = ${lua(spec.body)}`)
  lines.push('local threads = {}', 'function setup(thread)', '  table.insert(threads, thread)', '  thread:set("index", #threads)', 'end')
  if (spec.refreshPool) {
    const path = typeof spec.path === 'string' ? spec.path : spec.path[0]!
    // Threads have Lua states of their own: the pool is split between them in setup().
    lines.push(
      `local pool = ${luaList(spec.refreshPool.drain())}`,
      'function init(args)',
      '  queue = {}',
      '  for i = index, #pool, nthreads do table.insert(queue, pool[i]) end',
      'end',
      'function request()',
      `  local token = table.remove(queue, 1) or ${lua(EXHAUSTED_TOKEN)}`,
      `  return wrk.format(nil, ${lua(path)}, nil, '{"refresh_token":"' .. token .. '"}')`,
      'end',
      'function response(status, headers, body)',
      '  if status == 200 then',
      '    local token = string.match(body, \'"refresh_token":"([^"]+)"\')',
      '    if token then table.insert(queue, token) end',
      '  end',
      'end',
    )
  } else if (typeof spec.path !== 'string') {
    lines.push(
      `local paths = ${luaList(spec.path)}`,
      'function init(args) math.randomseed(os.time() * 100 + index) end',
      'function request() return wrk.format(nil, paths[math.random(#paths)]) end',
    )
  } else {
    lines.push(`wrk.path = ${lua(spec.path)}`)
  }
  lines.push(
    'function done(summary, latency, requests)',
    '  local tokens = {}',
    '  for _, thread in ipairs(threads) do',
    '    local queue = thread:get("queue")',
    '    if queue then for _, token in ipairs(queue) do table.insert(tokens, \'"\' .. token .. \'"\') end end',
    '  end',
    '  local e = summary.errors',
    '  io.write(string.format(\'WRK_RESULT {"requests":%d,"duration_us":%d,"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d,\',',
    '    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout))',
    '  io.write(string.format(\'"p50":%d,"p95":%d,"p99":%d,"max":%d,"mean":%f,"tokens":[%s]}\\n\',',
    '    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max, latency.mean, table.concat(tokens, ",")))',
    'end',
  )
  return `${lines.join('\n')}\n`
}

export interface WrkRun {
  responses: number
  seconds: number
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number }
  /** Answers with a status of 400 or more (wrk counts no finer). */
  non2xx: number
  errors: number
  timeouts: number
  loadGenCpuSeconds: number
}

interface WrkOutput {
  requests: number; duration_us: number; connect: number; read: number; write: number; status: number; timeout: number
  p50: number; p95: number; p99: number; max: number; mean: number; tokens: string[]
}

/** One wrk run (one thread: on 2 cores wrk needs a fraction of one to drive Keel) at a fixed concurrency. */
export async function runWrk(wrk: string, baseUrl: string, spec: LoadSpec, connections: number, seconds: number): Promise<WrkRun> {
  const dir = mkdtempSync(join(tmpdir(), 'keel-wrk-'))
  try {
    const script = join(dir, 'scenario.lua')
    const threads = 1
    writeFileSync(script, `local nthreads = ${threads}\n${wrkScript(spec)}`)
    // wrk takes whole seconds only.
    const args = ['-t', String(threads), '-c', String(connections), '-d', `${Math.max(1, Math.round(seconds))}s`, '--timeout', '10s', '-s', script, baseUrl]
    const child = spawn(wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const cpu = startCpuMeter(() => processTree(child.pid!))
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    // Read wrk's CPU just before it exits: afterwards /proc no longer has it.
    let cpuSeconds = 0
    const timer = setInterval(() => { cpuSeconds = Math.max(cpuSeconds, sum(cpu().values())) }, 100)
    const code = await new Promise<number | null>((resolve, reject) => {
      child.on('error', reject)
      child.on('exit', resolve)
    }).finally(() => clearInterval(timer))
    const line = stdout.split('\n').find((l) => l.startsWith('WRK_RESULT '))
    if (code !== 0 || !line) throw new Error(`wrk exited with ${code}: ${stderr || stdout}`.trim())
    const out = JSON.parse(line.slice('WRK_RESULT '.length)) as WrkOutput
    for (const token of out.tokens) spec.refreshPool?.add(token)
    const ms = (us: number) => us / 1000
    return {
      responses: out.requests,
      seconds: out.duration_us / 1e6,
      latencyMs: { p50: ms(out.p50), p95: ms(out.p95), p99: ms(out.p99), max: ms(out.max), mean: ms(out.mean) },
      non2xx: out.status,
      errors: out.connect + out.read + out.write + out.timeout,
      timeouts: out.timeout,
      loadGenCpuSeconds: cpuSeconds,
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}
