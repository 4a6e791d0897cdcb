import { once } from 'node:events'
import { rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildBundle } from '../scripts/build.js'
import { serverUrl } from './helpers/database.js'
import { freePort, killKeel, startKeel, waitReady, type KeelProcess } from './helpers/process.js'

// OTEL_EXPORTER_OTLP_ENDPOINT on the real entry point, exported over a real socket to a collector this test runs
// (OTLP/HTTP with JSON, what Keel sends), once from the sources and once from the bundle the image runs, where pg
// is left out of the bundle so the instrumentation can patch it. pg spans need PostgreSQL: PGlite has no driver.

interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind: number
  attributes?: { key: string; value: Record<string, unknown> }[]
}
const SPAN_KIND_SERVER = 2
const SPAN_KIND_CLIENT = 3

/** A minimal OTLP/HTTP JSON collector: every span posted to /v1/traces, with the service name it came from. */
function startCollector(): { server: Server; spans: (OtlpSpan & { service: string })[] } {
  const spans: (OtlpSpan & { service: string })[] = []
  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (chunk) => { body += chunk })
    req.on('end', () => {
      if (req.url === '/v1/traces' && req.headers['content-type']?.startsWith('application/json')) {
        for (const rs of JSON.parse(body).resourceSpans ?? []) {
          const service = String(rs.resource?.attributes?.find((a: { key: string }) => a.key === 'service.name')?.value?.stringValue)
          for (const ss of rs.scopeSpans ?? []) for (const span of ss.spans ?? []) spans.push({ ...span, service })
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  return { server, spans }
}

const attribute = (span: OtlpSpan, key: string) => {
  const value = span.attributes?.find((a) => a.key === key)?.value
  return value && (value.stringValue ?? value.intValue)
}

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736'
const PARENT_ID = '00f067aa0ba902b7'

describe.skipIf(!serverUrl)('tracing (OTEL_EXPORTER_OTLP_ENDPOINT set)', () => {
  const collector = startCollector()
  let endpoint = ''
  const bundleDir = join(process.cwd(), `.test-bundle-${process.pid}`)

  beforeAll(async () => {
    collector.server.listen(0, '127.0.0.1')
    await once(collector.server, 'listening')
    endpoint = `http://127.0.0.1:${(collector.server.address() as { port: number }).port}`
    await buildBundle(bundleDir)
  })
  afterAll(() => {
    collector.server.close()
    rmSync(bundleDir, { recursive: true, force: true })
  })

  it.each([
    ['the sources (tsx)', ['--import', 'tsx', 'src/server.ts']],
    ['the bundle', [join(bundleDir, 'server.js')]],
  ])('from %s: one request is one server span with its queries as children, no query values, and its trace id in its log lines', async (name, args) => {
    const { createTestDatabase } = await import('./helpers/database.js')
    const fresh = await createTestDatabase()
    await fresh.database.close()
    const port = await freePort()
    const base = `http://127.0.0.1:${port}`
    const service = `keel-test-${name.replace(/\W+/g, '-')}`
    let keel: KeelProcess | undefined
    try {
      keel = startKeel({
        DATABASE_URL: fresh.url!, PORT: String(port), LOG_LEVEL: 'info', BCRYPT_ROUNDS: '4',
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint, OTEL_SERVICE_NAME: service, OTEL_BSP_SCHEDULE_DELAY: '100',
      }, { args })
      await waitReady(base, keel.child)

      const email = 'traced.person@example.com'
      const password = 'a secret passphrase'
      const json = { 'content-type': 'application/json' }
      expect((await fetch(`${base}/api/v1/users`, { method: 'POST', headers: json, body: JSON.stringify({ email, password }) })).status).toBe(201)
      const login = await fetch(`${base}/api/v1/auth/token`, { method: 'POST', headers: json, body: JSON.stringify({ email, password }) })
      expect(login.status).toBe(200)
      const auth = { authorization: `Bearer ${((await login.json()) as { access_token: string }).access_token}` }
      const created = await fetch(`${base}/api/v1/items`, { method: 'POST', headers: { ...auth, ...json }, body: JSON.stringify({ name: 'traced item' }) })
      expect(created.status).toBe(201)
      const { id } = (await created.json()) as { id: number }
      // The caller's trace continues: W3C traceparent.
      const res = await fetch(`${base}/api/v1/items/${id}?private=query`, { headers: { ...auth, traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` } })
      expect(res.status).toBe(200)
      const requestId = res.headers.get('x-request-id')

      const mine = () => collector.spans.filter((s) => s.service === service)
      // The server span ends after the answer is written: wait for it to be exported.
      for (let i = 0; i < 100 && !mine().some((s) => s.traceId === TRACE_ID && s.kind === SPAN_KIND_SERVER); i++) await new Promise((r) => setTimeout(r, 50))

      const trace = mine().filter((s) => s.traceId === TRACE_ID)
      const servers = trace.filter((s) => s.kind === SPAN_KIND_SERVER)
      expect(servers.map((s) => attribute(s, 'http.route'))).toEqual(['/api/v1/items/:id'])
      const server = servers[0]!
      expect(server.parentSpanId).toBe(PARENT_ID)
      // The path without its query string, which can hold a search term.
      expect(attribute(server, 'url.path')).toBe(`/api/v1/items/${id}`)
      expect(Number(attribute(server, 'http.response.status_code'))).toBe(200)
      // Every span of the trace descends from the server span; the queries are pg client spans.
      const byId = new Map(trace.map((s) => [s.spanId, s]))
      const descends = (s: OtlpSpan): boolean => s.spanId === server.spanId || (!!s.parentSpanId && !!byId.get(s.parentSpanId) && descends(byId.get(s.parentSpanId)!))
      for (const s of trace) expect(descends(s), `${s.name} outside the request's span`).toBe(true)
      const queries = trace.filter((s) => s.kind === SPAN_KIND_CLIENT)
      // One query, by its prepared statement, with placeholders for the values (the user came from the cache the
      // POST warmed); nothing else: no span per hook, for the handler or for the pool's connection checkout.
      expect(trace.map((s) => s.name.split(' ')[0]).sort()).toEqual(['pg.query:items_find_for_owner', 'request'])
      expect(String(attribute(queries.find((q) => q.name.startsWith('pg.query:items_find_for_owner'))!, 'db.query.text'))).toMatch(/"owner_id" = \$1 and "items"."id" = \$2/)
      for (const q of queries) {
        expect(attribute(q, 'db.system.name')).toBe('postgresql')
        expect(attribute(q, 'db.namespace')).toBe(new URL(fresh.url!).pathname.slice(1))
      }

      // No query value anywhere: the signup and login statements carried the email and the password hash.
      const everything = JSON.stringify(mine())
      expect(everything).toContain('/api/v1/auth/token')
      expect(everything).not.toContain(email)
      expect(everything).not.toContain('$2b$')
      expect(everything).not.toContain('traced item')
      expect(everything).not.toContain('private=query')
      // The mail outbox worker, woken by the signup, sends outside the request: no span of its own queries.
      expect(mine().filter((s) => String(attribute(s, 'db.query.text')).startsWith('update "mail_outbox"'))).toEqual([])
      // The probes are not traced.
      expect(mine().filter((s) => String(attribute(s, 'url.path')).match(/^\/(healthz|readyz)/))).toEqual([])

      // Every log line of the GET carries the trace and the server span.
      const lines = keel.output().split('\n').filter((l) => l.includes(`"reqId":"${requestId}"`))
      expect(lines.map((l) => JSON.parse(l).msg)).toEqual(['incoming request', 'request completed'])
      for (const line of lines) expect(JSON.parse(line)).toMatchObject({ trace_id: TRACE_ID, span_id: server.spanId })

      keel.signal('SIGTERM')
      expect(await keel.exited, keel.output()).toBe(0)
    } finally {
      if (keel) await killKeel(keel)
      await fresh.drop()
    }
  }, 120_000)
})

describe('tracing off', () => {
  it('the bundle loads no OpenTelemetry SDK: only the lazily imported tracing chunk reaches it', async () => {
    const dir = join(process.cwd(), `.test-bundle-off-${process.pid}`)
    try {
      await buildBundle(dir)
      const { readFileSync, readdirSync } = await import('node:fs')
      const source = (file: string) => readFileSync(join(dir, file), 'utf8')
      const tracingChunk = readdirSync(dir).find((f) => /^tracing-.*\.js$/.test(f))!
      // The SDK, the instrumentations and their module hooks; not @opentelemetry/api, which prom-client imports
      // for exemplars (with METRICS_PORT), and which does nothing without an SDK registered.
      const sdk = /class (BatchSpanProcessor|PgInstrumentation|FastifyOtelInstrumentation)\b|require-in-the-middle/
      expect(source(tracingChunk)).toMatch(/FastifyOtelInstrumentation/)
      // Every chunk server.js reaches by static imports and by its dynamic imports other than the tracing one.
      const reached = new Set<string>()
      const visit = (file: string) => {
        if (reached.has(file)) return
        reached.add(file)
        const text = source(file)
        for (const [, next] of text.matchAll(/from "\.\/([^"]+\.js)"/g)) visit(next!)
        for (const [, next] of text.matchAll(/import\("\.\/([^"]+\.js)"\)/g)) if (next !== tracingChunk) visit(next!)
      }
      visit('server.js')
      expect(reached.size).toBeGreaterThan(5)
      for (const file of reached) expect(source(file), file).not.toMatch(sdk)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
