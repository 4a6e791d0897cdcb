import { once } from 'node:events'
import { createServer } from 'node:http'
import { measure, settle, type LoadResult, type LoadSettings } from './load.js'
import type { LoadSpec } from './load-spec.js'
import { freePort, HOST, startKeel, type KeelProcess } from './server-process.js'

export interface MetricsCostReport extends FeatureCost {
  /** Series in one scrape after the runs, and its request lines: what the cost buys. */
  series: number
  sample: string[]
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = Math.floor(sorted.length / 2)
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

/** The same comparison for any feature switched on by environment variables: two fresh Keels, alternating rounds. */
export interface FeatureCost {
  rounds: number
  off: LoadResult[]
  on: LoadResult[]
  /** 1 - median req/s with the feature / median without. */
  throughputCost: number
  /** Median Keel CPU ms per request with the feature / without, minus 1. */
  cpuCost: number
}

/**
 * Two variants of one scenario measured in turn, `rounds` times, alternating which goes first so a drift of the
 * machine weighs on both sides alike; the cost compares the medians. `off` and `on` each make one measured run.
 */
export async function compareAlternating(
  rounds: number, off: () => Promise<LoadResult>, on: () => Promise<LoadResult>,
): Promise<FeatureCost> {
  const cost: FeatureCost = { rounds, off: [], on: [], throughputCost: NaN, cpuCost: NaN }
  for (let round = 0; round < rounds; round++) {
    if (round % 2 === 0) {
      cost.off.push(await off())
      cost.on.push(await on())
    } else {
      cost.on.push(await on())
      cost.off.push(await off())
    }
  }
  cost.throughputCost = 1 - median(cost.on.map((r) => r.rps)) / median(cost.off.map((r) => r.rps))
  cost.cpuCost = median(cost.on.map((r) => r.serverCpuMsPerRequest)) / median(cost.off.map((r) => r.serverCpuMsPerRequest)) - 1
  return cost
}

/** One measured run on `keel` once it is idle. */
export async function measureOn(keel: KeelProcess, settings: LoadSettings, spec: LoadSpec): Promise<LoadResult> {
  await settle(keel.pid)
  return measure({ ...settings, baseUrl: keel.baseUrl, serverPid: keel.pid }, spec)
}

/**
 * The price of a feature (METRICS_PORT, OTEL_EXPORTER_OTLP_ENDPOINT): two fresh Keels on the same database and
 * environment (the same SECRET_KEY, so the scenario's tokens work on both), one with `onEnv` added, compared in
 * alternating rounds. Both are new processes (the bench's main Keel has run every scenario: its JIT would be warmer
 * than a newcomer's). `inspect` runs on the Keel with the feature, after the rounds.
 */
export async function measureFeatureCost(
  root: string, env: Record<string, string>, onEnv: Record<string, string>, nodeArgs: string[], settings: LoadSettings, spec: LoadSpec,
  rounds: number, inspect?: (on: KeelProcess) => Promise<void>,
): Promise<FeatureCost> {
  const off = await startKeel(root, { ...env, PORT: String(await freePort()) }, nodeArgs)
  let on: KeelProcess | undefined
  try {
    const started = await startKeel(root, { ...env, PORT: String(await freePort()), ...onEnv }, nodeArgs)
    on = started
    const cost = await compareAlternating(rounds, () => measureOn(off, settings, spec), () => measureOn(started, settings, spec))
    await inspect?.(started)
    return cost
  } finally {
    await on?.stop()
    await off.stop()
  }
}

/** METRICS_PORT on vs off, and one scrape afterwards: what the cost buys. */
export async function measureMetricsCost(
  root: string, env: Record<string, string>, nodeArgs: string[], settings: LoadSettings, spec: LoadSpec, rounds: number,
): Promise<MetricsCostReport> {
  const metricsPort = await freePort()
  let series = 0
  let sample: string[] = []
  const cost = await measureFeatureCost(root, env, { METRICS_PORT: String(metricsPort), METRICS_HOST: HOST }, nodeArgs, settings, spec, rounds, async () => {
    const text = await (await fetch(`http://${HOST}:${metricsPort}/metrics`, { signal: AbortSignal.timeout(10_000) })).text()
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'))
    series = lines.length
    sample = lines.filter((l) => l.startsWith('http_requests_total') || l.startsWith('http_request_duration_seconds_count')
      || l.startsWith('keel_') || l.startsWith('http_requests_in_flight'))
  })
  return { ...cost, series, sample }
}

/**
 * OTEL_EXPORTER_OTLP_ENDPOINT on vs off. The spans go to a collector stand-in in this process that answers 200 and
 * counts them: the exporter's whole work (batching, JSON, HTTP) is paid, a real collector's is not.
 */
export async function measureTracingCost(
  root: string, env: Record<string, string>, nodeArgs: string[], settings: LoadSettings, spec: LoadSpec, rounds: number,
): Promise<FeatureCost & { spansReceived: number }> {
  let spansReceived = 0
  const collector = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => { body += chunk })
    req.on('end', () => {
      spansReceived += (body.match(/"spanId"/g) ?? []).length
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  collector.listen(0, HOST)
  await once(collector, 'listening')
  try {
    const endpoint = `http://${HOST}:${(collector.address() as { port: number }).port}`
    const cost = await measureFeatureCost(root, env, { OTEL_EXPORTER_OTLP_ENDPOINT: endpoint }, nodeArgs, settings, spec, rounds)
    return { ...cost, spansReceived }
  } finally {
    collector.close()
  }
}
