import type { FastifyReply } from 'fastify'
import { Type, type Static, type TSchema } from 'typebox'
import { ValidationError } from '../shared/errors.js'
import type { Listing, Position } from '../shared/listing.js'
import { createCursorCodec } from './cursor.js'

/** The list query parameters of SPEC §9 every resource list takes, next to skip/limit, its filters and sort. */
export const CursorQuerySchema = {
  cursor: Type.Optional(Type.String({
    description: 'Keyset paging: empty for the first page, then the `next_cursor` of the page before. Skips the count '
      + '(`total` is null). Bound to the sort and filters it came with; with others, or altered, it is 422.',
    examples: [''],
  })),
}

/** `{items, total, page, size, next_cursor}` around an item schema; `example` is one item, shown as a one-item first page. */
export function ListPageSchema<T extends TSchema>(item: T, name: string, example: Static<T>) {
  return Type.Object({
    items: Type.Array(item),
    total: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'All matches, across pages; null on a cursor page (not counted)', examples: [1] }),
    page: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { description: 'floor(skip / limit) + 1; null on a cursor page', examples: [1] }),
    size: Type.Integer({ minimum: 1, description: 'The limit asked for', examples: [100] }),
    next_cursor: Type.Union([Type.String(), Type.Null()], {
      description: 'The `cursor` of the page after this one (also on offset pages, to continue by keyset); null on the last page',
      examples: [null],
    }),
  }, {
    title: `Page of ${name}`, description: `One page of ${name} records`,
    examples: [{ items: [example], total: 1, page: 1, size: 100, next_cursor: null }],
  })
}

type Query = Record<string, unknown> & { skip: number; limit: number; sort: string; cursor?: string }

/**
 * `url` (a request's path and query) with `cursor` set to `next` and no `skip`: the Link to the next page. The other
 * parameters stay as the client wrote them. A name is compared decoded, as the query parser reads it (`s%6Bip` is
 * skip); a cursor is base64url and a dot, safe in a query as it is. String work: a WHATWG URL parse and
 * re-serialisation cost several times as much on every list page.
 */
export function nextLink(url: string, next: string): string {
  const mark = url.indexOf('?')
  const kept = mark < 0 ? [] : url.slice(mark + 1).split('&').filter((part) => {
    if (part === '') return false
    const equals = part.indexOf('=')
    const name = equals < 0 ? part : part.slice(0, equals)
    const decoded = /[%+]/.test(name) ? decodeName(name) : name
    return decoded !== 'skip' && decoded !== 'cursor'
  }).map((part) => (UNSAFE.test(part) ? part.replace(UNSAFE_ALL, encodeURIComponent) : part))
  kept.push(`cursor=${next}`)
  return `<${mark < 0 ? url : url.slice(0, mark)}?${kept.join('&')}>; rel="next"`
}

// What a raw query may carry that a URI (and the `<…>` of a Link) may not: encoded as the WHATWG URL would.
const UNSAFE = /[^A-Za-z0-9\-._~!$&'()*+,;=:@/?%]/
const UNSAFE_ALL = new RegExp(UNSAFE.source, 'g')

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '))
  } catch {
    return name
  }
}

/**
 * Turns a resource's validated list query into a repository call and its answer: decodes `cursor` into the position
 * the keyset page starts after (422 on `query.cursor` for a cursor of another list or an altered one), and encodes
 * the page's end as `next_cursor` and `Link: rel="next"`.
 */
export function createPageAnswers(secretKey: string, resource: string) {
  const codec = createCursorCodec(secretKey, resource)
  return async <T>(url: string, reply: FastifyReply, query: Query, list: (query: Query & { after?: Position }) => Promise<Listing<T>>) => {
    const { skip, limit: _limit, cursor, sort, ...filters } = query
    const binding = codec.bindingOf(sort, filters)
    if (cursor !== undefined && skip > 0) throw new ValidationError([{ field: 'query.skip', message: 'must be 0 when a cursor is sent' }])
    const listing = await list(cursor ? { ...query, after: codec.decode(cursor, binding) } : query)
    const nextCursor = listing.next ? codec.encode(listing.next, binding) : null
    if (nextCursor) reply.header('link', nextLink(url, nextCursor))
    return { items: listing.items, total: listing.total, page: listing.page, size: listing.size, next_cursor: nextCursor }
  }
}
