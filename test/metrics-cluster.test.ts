import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { describe, expect, it } from 'vitest'
import { serverUrl } from './helpers/database.js'
import { parseMetrics, promtoolCheck, promtoolMissingOutsideCi } from './helpers/metrics.js'

// Ports of the ops range (18100-18199) are not used here: the OS picks free ones via a probe listener.
async function freePort(): Promise<number> {
  const { createServer } = await import('node:net')
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

describe.skipIf(!serverUrl)('GET /metrics of a cluster (WORKERS=2, the real entry point)', () => {
  it('the primary serves the sum over its workers', async () => {
    const { createTestDatabase } = await import('./helpers/database.js')
    const fresh = await createTestDatabase()
    await fresh.database.close()
    const [port, metricsPort] = [await freePort(), await freePort()]
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'info', DATABASE_URL: fresh.url!, WORKERS: '2', PORT: String(port), METRICS_PORT: String(metricsPort) },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout.on('data', (d) => { output += d })
    child.stderr.on('data', (d) => { output += d })
    const exited = once(child, 'exit')
    try {
      for (let i = 0; i < 300 && (output.match(/Keel ready/g) ?? []).length < 2 && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 100))
      expect((output.match(/Keel ready/g) ?? []).length, output).toBe(2)

      const sent = 40
      // A new connection per request, so both workers answer some of them.
      for (let i = 0; i < sent; i++) expect((await fetch(`http://127.0.0.1:${port}/readyz`, { headers: { connection: 'close' } })).status).toBe(200)
      const servedBy = new Set([...output.matchAll(/"pid":(\d+)[^\n]*"url":"\/readyz"/g)].map((m) => m[1]))
      expect(servedBy.size).toBe(2)

      const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`)
      expect(res.status).toBe(200)
      const text = await res.text()
      const metrics = parseMetrics(text)
      expect(metrics.get('http_requests_total{method="GET",route="/readyz",status_class="2xx"}')).toBe(sent)
      expect(metrics.get('http_request_duration_seconds_count{method="GET",route="/readyz",status_class="2xx"}')).toBe(sent)
      // /readyz asks the database: each worker keeps a pooled connection (idle for 30 s), and the sum shows both.
      expect(metrics.get('keel_db_pool_connections')).toBeGreaterThanOrEqual(2)
      // The summed output is still valid exposition text (the aggregator rebuilds every metric).
      if (!promtoolMissingOutsideCi) expect(promtoolCheck(text)).toEqual({ status: 0, output: '' })
      // Not on the public port.
      expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(404)

      child.kill('SIGTERM')
      expect((await exited)[0]).toBe(0)
    } finally {
      if (child.exitCode === null) {
        child.kill('SIGKILL')
        await exited
      }
      await fresh.drop()
    }
  }, 120_000)
})
