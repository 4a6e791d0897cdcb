import { setTimeout as sleep } from 'node:timers/promises'
import autocannon, { type AutocannonRequest, type AutocannonResult } from 'autocannon'
import { EXHAUSTED_TOKEN, refreshBody, type LoadSpec } from './load-spec.js'
import { hasProcfs, postgresProcesses, processTree, startCpuMeter, startMachineMeter, startRssSampler, sum } from './proc-stats.js'
import { runWrk } from './wrk.js'

export interface LoadSettings {
  baseUrl: string
  connections: number
  durationSeconds: number
  warmupSeconds: number
  /** The server under test: its process tree's CPU and RSS are measured. */
  serverPid: number
  /** Also measure the PostgreSQL server processes' CPU. */
  measureDb: boolean
  /** wrk's path when it is installed (lighter on the CPU the server needs), else autocannon in this process. */
  wrk: string | undefined
}

export interface LoadResult {
  responses: number
  seconds: number
  rps: number
  latencyMs: { p50: number; p95: number; p99: number; max: number; mean: number }
  /** Answers outside 2xx, by status code. */
  non2xx: number
  statusCodes: Record<string, number>
  /** Connection errors and timeouts (no answer at all). */
  errors: number
  timeouts: number
  serverCpuMsPerRequest: number
  serverCpuPercent: number
  /** CPU seconds of each Keel process during the run: shows what a cluster primary costs. */
  serverCpuSecondsByPid: Record<string, number>
  dbCpuMsPerRequest: number | undefined
  /** Peak resident memory of each process of the server's tree while the load ran. */
  rssPeakMb: Record<string, number>
  serverProcesses: number
  /** The load generator's own CPU (wrk, or autocannon in this process), in % of one core: near 100 % it, not the server, is the limit. */
  loadGenCpuPercent: number
  /**
   * CPU used by everything else on the machine (busy time minus Keel, PostgreSQL when measured, and this process),
   * in % of one core: above a few % the machine was not quiet during the run.
   */
  otherCpuPercent: number | undefined
}

/** What one run of either load generator gives. */
interface RunResult {
  responses: number
  seconds: number
  latencyMs: LoadResult['latencyMs']
  non2xx: number
  statusCodes: Record<string, number>
  errors: number
  timeouts: number
  loadGenCpuSeconds: number
}

const pick = <T>(values: readonly T[]): T => values[Math.floor(Math.random() * values.length)]!

/** A LoadSpec as autocannon requests; built afresh for each run, since autocannon writes its buffers into them. */
function autocannonRequests(spec: LoadSpec): AutocannonRequest[] {
  const base: AutocannonRequest = { method: spec.method, ...(spec.headers ? { headers: spec.headers } : {}), ...(spec.body ? { body: spec.body } : {}) }
  const pool = spec.refreshPool
  if (pool) {
    return [{
      ...base, path: typeof spec.path === 'string' ? spec.path : spec.path[0]!,
      setupRequest: (req) => ({ ...req, body: refreshBody(pool.take() ?? EXHAUSTED_TOKEN) }),
      onResponse: (status, body) => {
        if (status === 200) pool.add((JSON.parse(body) as { refresh_token: string }).refresh_token)
      },
    }]
  }
  if (typeof spec.path === 'string') return [{ ...base, path: spec.path }]
  const paths = spec.path
  return [{ ...base, setupRequest: (req) => ({ ...req, path: pick(paths) }) }]
}

async function runAutocannon(settings: LoadSettings, spec: LoadSpec, seconds: number): Promise<RunResult> {
  const latencies = latencyRecorder()
  const ownCpu = process.cpuUsage()
  const result = await new Promise<AutocannonResult>((resolve, reject) => {
    const instance = autocannon({
      url: settings.baseUrl,
      connections: settings.connections,
      duration: seconds,
      pipelining: 1,
      timeout: 10,
      requests: autocannonRequests(spec),
    }, (err, res) => (err ? reject(err) : resolve(res)))
    // autocannon's own summary has no p95: keep every latency and compute the percentiles here.
    instance.on('response', (_client: unknown, _status: number, _bytes: number, ms: number) => latencies.record(ms))
  })
  const own = process.cpuUsage(ownCpu)
  const sorted = latencies.sorted()
  const count = sorted.length
  return {
    responses: count,
    seconds: result.duration,
    latencyMs: {
      p50: percentile(sorted, 50), p95: percentile(sorted, 95), p99: percentile(sorted, 99), max: percentile(sorted, 100),
      mean: count ? sum(sorted) / count : NaN,
    },
    non2xx: result.non2xx,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats ?? {}).map(([code, s]) => [code, s.count])),
    errors: result.errors,
    timeouts: result.timeouts,
    loadGenCpuSeconds: (own.user + own.system) / 1e6,
  }
}

async function run(settings: LoadSettings, spec: LoadSpec, seconds: number): Promise<RunResult> {
  if (!settings.wrk) return runAutocannon(settings, spec, seconds)
  const r = await runWrk(settings.wrk, settings.baseUrl, spec, settings.connections, seconds)
  // wrk counts answers of 400 and above only; the rest are 2xx here (no scenario is redirected).
  return { ...r, statusCodes: r.non2xx ? { '4xx/5xx': r.non2xx } : {} }
}

/**
 * Waits (at most 5 s) until the server is nearly idle: requests the warm-up left in flight keep it busy after
 * autocannon hangs up (32 queued logins are a second of bcrypt), and would otherwise eat into the measured run.
 */
export async function settle(pid: number): Promise<void> {
  const deadline = performance.now() + 5_000
  while (performance.now() < deadline) {
    const meter = startCpuMeter(() => processTree(pid))
    await sleep(100)
    if (sum(meter().values()) < 0.02) return
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

/** Every latency of a run, kept in a growable typed array (a 15 s run at 20,000 req/s is 300,000 numbers). */
function latencyRecorder() {
  let values = new Float64Array(65_536)
  let count = 0
  return {
    record(ms: number) {
      if (count === values.length) {
        const bigger = new Float64Array(values.length * 2)
        bigger.set(values)
        values = bigger
      }
      values[count++] = ms
    },
    sorted: () => values.slice(0, count).sort(),
  }
}

/** Starts every meter of the measured run; the returned function stops them and gives CPU seconds and peak RSS. */
function startMeters(settings: LoadSettings) {
  const serverCpu = startCpuMeter(() => processTree(settings.serverPid))
  const dbCpu = settings.measureDb ? startCpuMeter(postgresProcesses) : undefined
  const rss = startRssSampler(settings.serverPid)
  const machine = startMachineMeter()
  const ownCpu = process.cpuUsage()
  const wallStart = performance.now()
  return (wrkSeconds: number) => {
    const wallMs = performance.now() - wallStart
    const own = process.cpuUsage(ownCpu)
    const machineSeconds = machine()
    const serverByPid = serverCpu()
    const serverSeconds = hasProcfs ? sum(serverByPid.values()) : NaN
    const dbSeconds = dbCpu && hasProcfs ? sum(dbCpu().values()) : undefined
    // The load generator is this process (autocannon in it), or wrk plus this process's sampling.
    const loadGenSeconds = wrkSeconds + (own.user + own.system) / 1e6
    const otherSeconds = machineSeconds === undefined ? undefined : Math.max(0, machineSeconds - serverSeconds - (dbSeconds ?? 0) - loadGenSeconds)
    return { wallMs, serverByPid, serverSeconds, dbSeconds, loadGenSeconds, otherSeconds, rssPeaks: rss() }
  }
}

/** A warm-up (discarded), then the measured run at a fixed concurrency, with autocannon or wrk. */
export async function measure(settings: LoadSettings, spec: LoadSpec): Promise<LoadResult> {
  if (settings.warmupSeconds > 0) {
    await run(settings, spec, settings.warmupSeconds)
    await settle(settings.serverPid)
  }
  const stopMeters = startMeters(settings)
  const r = await run(settings, spec, settings.durationSeconds)
  const m = stopMeters(settings.wrk ? r.loadGenCpuSeconds : 0)

  const count = r.responses
  const seconds = r.seconds || m.wallMs / 1000
  const perRequest = (cpu: number) => (count ? (cpu * 1000) / count : NaN)
  const percentOfCore = (cpu: number) => (cpu * 100_000) / m.wallMs
  return {
    responses: count,
    seconds,
    rps: count / seconds,
    latencyMs: r.latencyMs,
    non2xx: r.non2xx,
    statusCodes: r.statusCodes,
    errors: r.errors,
    timeouts: r.timeouts,
    serverCpuMsPerRequest: perRequest(m.serverSeconds),
    serverCpuPercent: percentOfCore(m.serverSeconds),
    serverCpuSecondsByPid: Object.fromEntries([...m.serverByPid].map(([pid, cpu]) => [String(pid), cpu])),
    dbCpuMsPerRequest: m.dbSeconds === undefined ? undefined : perRequest(m.dbSeconds),
    rssPeakMb: Object.fromEntries([...m.rssPeaks].map(([pid, bytes]) => [String(pid), Math.round(bytes / 1_048_576)])),
    serverProcesses: m.rssPeaks.size,
    loadGenCpuPercent: percentOfCore(m.loadGenSeconds),
    otherCpuPercent: m.otherSeconds === undefined ? undefined : percentOfCore(m.otherSeconds),
  }
}
