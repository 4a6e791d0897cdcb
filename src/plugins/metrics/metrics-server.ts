import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { Logger } from 'pino'
// Static: this module is itself loaded only when metrics are on, and the esbuild bundle loses a CommonJS
// package's named exports through a dynamic import() (AggregatorRegistry came out undefined).
import { AggregatorRegistry } from 'prom-client'

export interface MetricsSource {
  render(): Promise<string>
  contentType: string
}

/**
 * A listener of its own for GET /metrics, so the figures never reach the public port and a scrape passes
 * no rate limit, authentication or load shedding. Unref'd: it never keeps a stopping process alive.
 */
export async function startMetricsServer(host: string, port: number, source: MetricsSource, logger: Logger): Promise<Server> {
  const server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0]
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('Not found: metrics are at GET /metrics\n')
      return
    }
    source.render().then((text) => {
      response.writeHead(200, { 'content-type': source.contentType, 'cache-control': 'no-store' }).end(request.method === 'HEAD' ? undefined : text)
    }, (err: unknown) => {
      logger.error({ err }, 'metrics could not be collected')
      response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics could not be collected\n')
    })
  })
  server.listen(port, host)
  await once(server, 'listening')
  server.unref()
  logger.info({ host, port }, 'metrics at GET /metrics')
  return server
}

/** The cluster primary's source: every worker's registry, summed (prom-client's AggregatorRegistry, over IPC). */
export function clusterMetricsSource(): MetricsSource {
  const aggregator = new AggregatorRegistry()
  return { render: () => aggregator.clusterMetrics(), contentType: aggregator.contentType }
}
