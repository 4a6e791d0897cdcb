import { measure, settle, type LoadResult, type LoadSettings } from './load.js'
import type { LoadSpec } from './load-spec.js'
import { freePort, HOST, startKeel, type KeelProcess } from './server-process.js'

export interface MetricsCostReport {
  rounds: number
  off: LoadResult[]
  on: LoadResult[]
  /** 1 - median req/s with metrics / median without: the share of throughput metrics cost. */
  throughputCost: number
  /** Median Keel CPU ms per request with metrics / without, minus 1: steadier than req/s on a shared machine. */
  cpuCost: number
  /** Series in one scrape after the runs, and its request lines: what the cost buys. */
  series: number
  sample: string[]
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/**
 * The price of METRICS_PORT: two fresh Keels on the same database and environment (the same SECRET_KEY, so the
 * scenario's tokens work on both), one with metrics on, and the scenario run on each in turn, `rounds` times,
 * alternating which goes first so a drift of the machine weighs on both sides alike. Both are new processes
 * (the bench's main Keel has run every scenario: its JIT would be warmer than a newcomer's).
 */
export async function measureMetricsCost(
  root: string, env: Record<string, string>, nodeArgs: string[], settings: LoadSettings, spec: LoadSpec, rounds: number,
): Promise<MetricsCostReport> {
  const metricsPort = await freePort()
  const off = await startKeel(root, { ...env, PORT: String(await freePort()) }, nodeArgs)
  let on: KeelProcess | undefined
  try {
    on = await startKeel(root, { ...env, PORT: String(await freePort()), METRICS_PORT: String(metricsPort), METRICS_HOST: HOST }, nodeArgs)
    const report: MetricsCostReport = { rounds, off: [], on: [], throughputCost: NaN, cpuCost: NaN, series: 0, sample: [] }
    const run = async (keel: KeelProcess) => {
      await settle(keel.pid)
      return measure({ ...settings, baseUrl: keel.baseUrl, serverPid: keel.pid }, spec)
    }
    for (let round = 0; round < rounds; round++) {
      if (round % 2 === 0) {
        report.off.push(await run(off))
        report.on.push(await run(on))
      } else {
        report.on.push(await run(on))
        report.off.push(await run(off))
      }
    }
    report.throughputCost = 1 - median(report.on.map((r) => r.rps)) / median(report.off.map((r) => r.rps))
    report.cpuCost = median(report.on.map((r) => r.serverCpuMsPerRequest)) / median(report.off.map((r) => r.serverCpuMsPerRequest)) - 1
    const text = await (await fetch(`http://${HOST}:${metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'))
    report.series = lines.length
    report.sample = lines.filter((l) => l.startsWith('http_requests_total') || l.startsWith('http_request_duration_seconds_count')
      || l.startsWith('keel_') || l.startsWith('http_requests_in_flight'))
    return report
  } finally {
    await on?.stop()
    await off.stop()
  }
}
