// OpenTelemetry traces, loaded only when OTEL_EXPORTER_OTLP_ENDPOINT is set (server.ts imports this module lazily,
// so a Keel without tracing never loads the SDK). One server span per request from @fastify/otel, a child span per
// query from @opentelemetry/instrumentation-pg, exported as OTLP over HTTP/JSON.
import { createRequire } from 'node:module'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http'
import { registerInstrumentations } from '@opentelemetry/instrumentation'
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg'
import { resourceFromAttributes } from '@opentelemetry/resources'
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import { LogController, type FastifyInstance, type FastifyPluginAsync, type FastifyReply, type FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'

export interface TracingOptions {
  serviceName: string
}

export interface Tracing {
  /** Registered first in buildApp: @fastify/otel must see every route as it is declared. */
  plugin: FastifyPluginAsync
  /** Fastify's `logController` (buildApp): its "incoming request" line waits for the trace id (see below). */
  logController: LogController
  /** Exports what is buffered; called after the app has closed. */
  shutdown(): Promise<void>
}

/**
 * Fastify writes "incoming request" before the first onRequest hook, so before the request has a span. This
 * controller leaves that line to the tracing plugin's hook, which writes it once the trace id is bound; every
 * other line is Fastify's own. (A request refused before any hook runs, a malformed URL say, has no such line.)
 */
class TracedLogController extends LogController {
  override incomingRequest(): void {}
  logIncoming(request: FastifyRequest, reply: FastifyReply): void {
    super.incomingRequest(request, reply)
  }
}

/** Probes the load balancer sends every few seconds: spans of them would drown the requests. */
const UNTRACED_PATHS = new Set(['/healthz', '/readyz'])

/**
 * Starts the tracer provider and the two instrumentations. Must run before the database module loads pg: the pg
 * instrumentation patches pg when it is required, and the app imports it as an ES module, which Node's require
 * hook never sees, so it is required here once, through the hook; the ES import later gets the same, patched, classes.
 */
export function startTracing({ serviceName }: TracingOptions): Tracing {
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': serviceName }),
    // OTLP/HTTP JSON to the endpoint of the OTEL_EXPORTER_OTLP_* variables, sent in batches in the background.
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  })
  // Global tracer provider, AsyncLocalStorage context and W3C traceparent propagation.
  provider.register()
  const fastifyOtel = new FastifyOtelInstrumentation({
    registerOnInitialization: false,
    // One span per request. A span per hook (a dozen per request) or for the handler costs more than it tells:
    // the query spans under the request show where its time went.
    instrumentHooks: false,
    instrumentHandler: false,
    ignorePaths: ({ url }) => UNTRACED_PATHS.has(url),
    // @fastify/otel records the URL with its query string as url.path; a search term (`?q=`) can be personal data.
    requestHook: (span, request) => { span.setAttribute('url.path', request.url.split('?', 1)[0]!) },
  })
  const pg = new PgInstrumentation({
    // Query text with its $n placeholders, never the values: they hold emails and password hashes.
    enhancedDatabaseReporting: false,
    // The mail outbox worker polls outside any request: no trace of one query each time.
    requireParentSpan: true,
    // A pool checkout is not a query; waiting for a connection shows in the metrics (keel_db_pool_waiting_requests).
    ignoreConnectSpans: true,
  })
  registerInstrumentations({ tracerProvider: provider, instrumentations: [fastifyOtel, pg] })
  createRequire(import.meta.url)('pg')

  const logController = new TracedLogController()
  const plugin = fp(async (app: FastifyInstance) => {
    await app.register(fastifyOtel.plugin())
    // Every line the request logs carries its trace: Fastify's completion line uses reply.log, the others request.log.
    app.addHook('onRequest', async (request, reply) => {
      const span = request.opentelemetry().span
      if (span) {
        const { traceId, spanId } = span.spanContext()
        request.log = reply.log = request.log.child({ trace_id: traceId, span_id: spanId })
      }
      logController.logIncoming(request, reply)
    })
  }, { name: 'keel-tracing' })

  return {
    plugin,
    logController,
    async shutdown() {
      fastifyOtel.disable()
      pg.disable()
      await provider.shutdown()
    },
  }
}
