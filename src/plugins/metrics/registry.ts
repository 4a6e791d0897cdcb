import { performance } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** Pool figures of a PostgreSQL connection pool (db/client.ts); absent on the embedded engine. */
export interface PoolStats {
  total: number
  idle: number
  waiting: number
}

/** Running totals a cache keeps as plain integers (users.cache.ts), read at scrape time. */
export interface CacheStats {
  hits: number
  misses: number
  invalidations: number
}

/** Running figures of events and webhooks (modules/events/events.stats.ts), plain integers read at scrape time. */
export interface EventFigures {
  /** Events written to SSE streams. */
  delivered: number
  openStreams: number
  /** Streams ended, by why. */
  closed: Record<string, number>
  /** The highest event id this instance has read up to (its growth is the rate events are written). */
  position: number
  /** Ids handed out but not yet known to be final: delivery waits for the transactions holding them. */
  pending: number
  webhooks: { delivered: number; retried: number; failed: number; disabled: number }
}

export interface MetricSources {
  poolStats?: (() => PoolStats) | undefined
  userCacheStats?: (() => CacheStats) | undefined
  eventStats?: (() => EventFigures) | undefined
}

export type LoginOutcome = 'success' | 'bad_credentials' | 'locked' | 'rate_limited'

// prom-client registers these gauges with a `_total` suffix, which Prometheus reserves for counters (promtool
// flags them). Each repeats the sum of its per-type sibling (nodejs_active_handles{type} …), so they are dropped.
const MISNAMED_DEFAULT_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']

// Seconds. From well under a cached item read (~1 ms) to past the 2 s database-outage bound and the 30 s request timeout.
const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

const STATUS_CLASSES = ['0xx', '1xx', '2xx', '3xx', '4xx', '5xx']

/**
 * The metrics of one process: Node's defaults (process CPU, RSS, heap, event-loop delay, GC) and Keel's own.
 * Hot-path figures are plain numbers read at scrape time (`collect`), so a request pays for two label
 * look-ups and nothing else. Cluster aggregation sums every metric over workers except where `aggregator`
 * says otherwise (ratios and delays are averaged).
 */
export function createMetricsRegistry(sources: MetricSources) {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  for (const name of MISNAMED_DEFAULT_GAUGES) registry.removeSingleMetric(name)
  const registers = [registry]

  const requestLabels = ['method', 'route', 'status_class'] as const
  const requests = new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by method, route pattern and status class', labelNames: requestLabels, registers })
  const durations = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'Time from receiving a request to the end of its answer, by method, route pattern and status class',
    labelNames: requestLabels,
    buckets: DURATION_BUCKETS,
    registers,
  })

  let inFlight = 0
  new Gauge({ name: 'http_requests_in_flight', help: 'Requests received and not yet answered', registers, collect() { this.set(inFlight) } })

  const rateLimited = new Counter({ name: 'keel_rate_limit_rejections_total', help: 'Requests refused with 429 by a rate limit (global or login)', registers })
  const shed = new Counter({ name: 'keel_load_shed_total', help: 'Requests refused with 503 by load shedding, by the limit exceeded', labelNames: ['limit'] as const, registers })
  for (const limit of ['event_loop_delay', 'heap', 'rss']) shed.labels(limit).inc(0)
  const logins = new Counter({ name: 'keel_login_attempts_total', help: 'Login attempts by outcome', labelNames: ['outcome'] as const, registers })
  for (const outcome of ['success', 'bad_credentials', 'locked', 'rate_limited'] satisfies LoginOutcome[]) logins.labels(outcome).inc(0)

  const { poolStats, userCacheStats } = sources
  if (poolStats) {
    const pool = (name: string, help: string, read: (s: PoolStats) => number) =>
      new Gauge({ name, help, registers, collect() { this.set(read(poolStats())) } })
    pool('keel_db_pool_connections', 'Connections the PostgreSQL pool holds (busy and idle)', (s) => s.total)
    pool('keel_db_pool_idle_connections', 'Pooled connections not in use', (s) => s.idle)
    pool('keel_db_pool_waiting_requests', 'Queries waiting for a pooled connection', (s) => s.waiting)
  }
  if (userCacheStats) {
    // Counters fed from the cache's own integers: reset and re-add the running total at each scrape.
    const cache = (name: string, help: string, read: (s: CacheStats) => number) =>
      new Counter({ name, help, registers, collect() { this.reset(); this.inc(read(userCacheStats())) } })
    cache('keel_user_cache_hits_total', 'Authenticated requests whose user came from the cache', (s) => s.hits)
    cache('keel_user_cache_misses_total', 'Authenticated requests that read their user from the database', (s) => s.misses)
    cache('keel_user_cache_invalidations_total', 'User changes that invalidated cached users (written here, or notified by another process)', (s) => s.invalidations)
  }

  if (sources.eventStats) registerEventMetrics(registers, sources.eventStats)

  let lastElu = performance.eventLoopUtilization()
  new Gauge({
    name: 'nodejs_eventloop_utilization_ratio',
    help: 'Share of time the event loop was busy since the previous scrape (0-1)',
    aggregator: 'average',
    registers,
    collect() {
      const now = performance.eventLoopUtilization()
      this.set(performance.eventLoopUtilization(now, lastElu).utilization)
      lastElu = now
    },
  })

  return {
    registry,
    requestStarted() { inFlight++ },
    requestEnded() { inFlight-- },
    requestAnswered(method: string, route: string, status: number, seconds: number) {
      const labels = { method, route, status_class: STATUS_CLASSES[Math.floor(status / 100)] ?? 'other' }
      requests.inc(labels)
      durations.observe(labels, seconds)
      if (status === 429) rateLimited.inc()
    },
    loginAttempt(outcome: LoginOutcome) { logins.inc({ outcome }) },
    requestShed(limit: string) { shed.inc({ limit }) },
  }
}

export type MetricsRegistry = ReturnType<typeof createMetricsRegistry>

const STREAM_CLOSE_REASONS = ['client', 'slow', 'revoked', 'expired', 'shutdown', 'error']
const WEBHOOK_OUTCOMES = ['delivered', 'retried', 'failed', 'disabled'] as const

/** SSE streams and webhook deliveries: counters fed from the running totals, gauges read as they are. */
function registerEventMetrics(registers: Registry[], read: () => EventFigures): void {
  const counter = (name: string, help: string, value: (f: EventFigures) => number) =>
    new Counter({ name, help, registers, collect() { this.reset(); this.inc(value(read())) } })
  const gauge = (name: string, help: string, value: (f: EventFigures) => number, aggregator?: 'max') =>
    new Gauge({ name, help, registers, ...(aggregator ? { aggregator } : {}), collect() { this.set(value(read())) } })
  counter('keel_events_delivered_total', 'Events written to SSE streams', (f) => f.delivered)
  gauge('keel_event_streams_open', 'Open SSE event streams', (f) => f.openStreams)
  gauge('keel_events_log_position', 'Highest event id read up to; its rate is the rate events are written', (f) => f.position, 'max')
  gauge('keel_events_pending_ids', 'Event ids handed out but not yet final (delivery waits for their transactions)', (f) => f.pending, 'max')
  new Counter({
    name: 'keel_event_streams_closed_total', help: 'SSE streams ended, by reason', labelNames: ['reason'] as const, registers,
    collect() {
      this.reset()
      const closed = read().closed
      for (const reason of STREAM_CLOSE_REASONS) this.inc({ reason }, closed[reason] ?? 0)
    },
  })
  new Counter({
    name: 'keel_webhook_attempts_total', help: 'Webhook delivery attempts by outcome (disabled: the endpoint was turned off)', labelNames: ['outcome'] as const, registers,
    collect() {
      this.reset()
      const webhooks = read().webhooks
      for (const outcome of WEBHOOK_OUTCOMES) this.inc({ outcome }, webhooks[outcome])
    },
  })
}
