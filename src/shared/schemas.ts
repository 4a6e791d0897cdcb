import { Type, type Static, type TSchema } from 'typebox'

/** RFC 9457 problem details, the body of every error answer. */
export const ProblemSchema = Type.Object({
  type: Type.String({ examples: ['about:blank'] }),
  title: Type.String({ examples: ['Not Found'] }),
  status: Type.Integer({ examples: [404] }),
  detail: Type.String({ examples: ['Item not found'] }),
  code: Type.Optional(Type.String({ description: 'Machine-readable reason, where the status alone is ambiguous', examples: ['email_not_verified'] })),
  errors: Type.Optional(Type.Array(Type.Object({
    field: Type.String({ examples: ['body.name'] }),
    message: Type.String({ examples: ['must NOT have fewer than 1 characters'] }),
  }))),
}, { $id: 'Problem', description: 'An error, as application/problem+json (RFC 9457)' })

const problemRef = Type.Unsafe<Static<typeof ProblemSchema>>(Type.Ref('Problem'))

const PROBLEM_DESCRIPTIONS: Record<number, string> = {
  400: 'Malformed request: invalid JSON or UTF-8, a malformed URL, or a body sent to an operation that takes none',
  401: 'Missing, invalid or expired bearer token (carries WWW-Authenticate: Bearer)',
  403: 'Not allowed for this user',
  404: 'Not found',
  409: 'Conflicts with an existing resource',
  412: 'If-Match does not match the current ETag: the row changed since it was read',
  413: 'Body larger than 1 MiB',
  414: 'URL too long',
  415: 'Body in a media type this operation does not take',
  422: 'Validation failed; `errors` lists each field',
  429: 'Rate limit exceeded; see Retry-After',
  503: 'Database unavailable; see Retry-After',
}

/** One typical answer per status (titles as plugins/errors.ts sends them): the documented error examples. */
const PROBLEM_EXAMPLES: Record<number, Pick<Static<typeof ProblemSchema>, 'title' | 'detail' | 'errors'>> = {
  400: { title: 'Bad Request', detail: 'The request body is not valid JSON: Unexpected end of JSON input' },
  401: { title: 'Unauthorized', detail: 'Could not validate credentials' },
  403: { title: 'Forbidden', detail: 'Only superusers may manage other accounts' },
  404: { title: 'Not Found', detail: 'Item not found' },
  409: { title: 'Conflict', detail: 'A user with this email already exists' },
  412: { title: 'Precondition Failed', detail: 'The item changed since it was read (If-Match does not match its ETag)' },
  413: { title: 'Content Too Large', detail: 'Request body is too large' },
  414: { title: 'URI Too Long', detail: 'URI Too Long' },
  415: { title: 'Unsupported Media Type', detail: 'Send the request body as application/json' },
  422: {
    title: 'Unprocessable Content',
    detail: 'Request validation failed',
    errors: [{ field: 'body.name', message: 'must NOT have fewer than 1 characters' }],
  },
  429: { title: 'Too Many Requests', detail: 'Too many requests, retry later' },
  503: { title: 'Service Unavailable', detail: 'The database is unavailable, retry shortly' },
}

/** A typical problem body for `status`, as the OpenAPI document shows it. */
export function problemExample(status: number): Static<typeof ProblemSchema> {
  return { type: 'about:blank', status, ...(PROBLEM_EXAMPLES[status] ?? { title: 'Error', detail: 'An error occurred' }) }
}

/** Response entries for the given error statuses, all problem+json. */
export function problemResponses(...statuses: number[]): Record<number, TSchema> {
  return Object.fromEntries(statuses.map((s) => [s, Type.Unsafe({ ...problemRef, description: PROBLEM_DESCRIPTIONS[s] ?? 'Error' })]))
}

/** Errors any authenticated JSON route can give. */
export const AUTHENTICATED_ERRORS = [401, 422, 429, 503] as const

export const IdParamsSchema = Type.Object({
  id: Type.Integer({ minimum: 1, maximum: 2_147_483_647, description: 'Resource id' }),
}, { additionalProperties: false })

export const NoContentSchema = Type.Null({ description: 'No content' })

/** Paging query shared by every list: skip/limit as in the SPEC. */
export const PagingQuerySchema = {
  skip: Type.Integer({ minimum: 0, maximum: 2_147_483_647, default: 0, description: 'Rows to skip' }),
  limit: Type.Integer({ minimum: 1, maximum: 100, default: 100, description: 'Page size (1–100)' }),
}

/** `{items, total, page, size}` around an item schema; `example` is one item, shown as a one-item first page. */
export function PageSchema<T extends TSchema>(item: T, name: string, example: Static<T>) {
  return Type.Object({
    items: Type.Array(item),
    total: Type.Integer({ minimum: 0, description: 'All matches, across pages', examples: [1] }),
    page: Type.Integer({ minimum: 1, description: 'floor(skip / limit) + 1', examples: [1] }),
    size: Type.Integer({ minimum: 1, description: 'The limit asked for', examples: [100] }),
  }, { title: `Page of ${name}`, description: `One page of ${name} records`, examples: [{ items: [example], total: 1, page: 1, size: 100 }] })
}

export interface Page<T> {
  items: T[]
  total: number
  page: number
  size: number
}

/** Builds a Page from one slice and the total count. */
export function toPage<T>(items: T[], total: number, skip: number, limit: number): Page<T> {
  return { items, total, page: Math.floor(skip / limit) + 1, size: limit }
}
