import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type } from 'typebox'

/**
 * ETags of single rows (SPEC §9): `"<id>.<version>"`, strong, from the `version` column every update bumps. A column
 * rather than xmin: it is the same on PGlite and PostgreSQL, survives a dump and restore, and the If-Match check is
 * then a plain `version = any(…)` in the write's own WHERE clause.
 */
export const etagOf = (row: { id: number; version?: unknown }) => `"${row.id}.${Number(row.version)}"`

const MAX_VERSION = 2_147_483_647
// More tags than any client sends for one row; past it the rest are ignored (and cannot match).
const MAX_TAGS = 32

/**
 * The versions of row `id` an `If-Match` header accepts, as the `int[]` text the statements bind; undefined when
 * there is no header or it is `*` (any current row). Weak tags never match (If-Match compares strongly), and tags of
 * another row or that are not ours simply match nothing: the write then finds no row and answers 412.
 */
export function ifMatchVersions(header: string | undefined, id: number): string | undefined {
  if (header === undefined || header.trim() === '*') return undefined
  const versions = [...header.matchAll(/(W\/)?"(\d{1,10})\.(\d{1,10})"/g)].slice(0, MAX_TAGS)
    .filter(([, weak, rowId, version]) => !weak && Number(rowId) === id && Number(version) <= MAX_VERSION)
    .map(([, , , version]) => Number(version))
  return `{${versions.join(',')}}`
}

/** Whether a list of versions (the `int[]` text) holds `version`. */
export const versionsInclude = (versions: string, version: unknown) => versions.slice(1, -1).split(',').includes(String(version))

/** Sends the row with its ETag, or 304 without a body when `If-None-Match` names it (or is `*`). */
export function sendRow(request: FastifyRequest, reply: FastifyReply, row: { id: number; version?: unknown }, status = 200) {
  const etag = etagOf(row)
  reply.header('etag', etag)
  const header = request.headers['if-none-match']
  // If-None-Match compares weakly: W/"1.2" names the same version as "1.2".
  if (request.method === 'GET' && header !== undefined && (header.trim() === '*' || header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag))) {
    return reply.code(304).send()
  }
  return reply.code(status).send(row)
}

/** The request headers of SPEC §9 a single-row route reads, for its schema (and so the OpenAPI document). */
export const conditionalHeaders = (header: 'if-match' | 'if-none-match') => Type.Object({
  [header]: Type.Optional(Type.String({
    description: header === 'if-match'
      ? 'Only if the row is still this version: its ETag (or `*`). Otherwise 412, and nothing changes.'
      : 'The ETag the client has: 304 without a body while the row is still that version.',
    examples: ['"1.1"'],
  })),
})

export const etagHeader = { ETag: { type: 'string', description: 'The row\'s version: send it back in If-Match or If-None-Match', examples: ['"1.1"'] } }
