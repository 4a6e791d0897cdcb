import { appendFileSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'

/** One observed answer: the operation (method + route pattern, as the document names it) and its status. */
interface Observed {
  method: string
  path: string
  status: number
}

/** Fastify's `/api/v1/items/:id` as OpenAPI's `/api/v1/items/{id}`. */
const documentPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/(.)\/$/, '$1')

/**
 * Keeps every status an app built by buildTestApp answers, so the global teardown can check the whole suite's
 * answers against the OpenAPI document (test/helpers/global-setup.ts). Returns the flush for close().
 */
export function recordResponses(app: FastifyInstance, dir: string): () => void {
  const seen = new Set<string>()
  app.addHook('onResponse', (request, reply, done) => {
    const url = request.routeOptions.url
    if (url !== undefined && request.method !== 'HEAD' && request.method !== 'OPTIONS') {
      seen.add(JSON.stringify({ method: request.method.toLowerCase(), path: documentPath(url), status: reply.statusCode } satisfies Observed))
    }
    done()
  })
  return () => {
    if (seen.size) appendFileSync(join(dir, `${process.pid}.jsonl`), [...seen].join('\n') + '\n')
    seen.clear()
  }
}

type Paths = Record<string, Record<string, { responses?: Record<string, unknown> }>>

/** Every observed status of a documented operation that the document does not declare, as `METHOD path status`. */
export function undeclaredStatuses(dir: string, document: { paths?: Paths }): { checked: number; undeclared: string[] } {
  const observed = new Set<string>()
  for (const file of readdirSync(dir)) {
    for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) if (line) observed.add(line)
  }
  const undeclared: string[] = []
  let checked = 0
  for (const line of observed) {
    const { method, path, status } = JSON.parse(line) as Observed
    const operation = document.paths?.[path]?.[method]
    if (!operation) continue // not a documented operation (the docs UI, a route a test registered itself)
    checked++
    if (!operation.responses?.[String(status)]) undeclared.push(`${method.toUpperCase()} ${path} ${status}`)
  }
  return { checked, undeclared: undeclared.sort() }
}
