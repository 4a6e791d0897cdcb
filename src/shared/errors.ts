/** A field-level validation message, as listed in a 422 problem's `errors`. */
export interface FieldError {
  field: string
  message: string
}

/**
 * Base of every error the API answers on purpose. Services and repositories throw these;
 * plugins/errors.ts turns them into application/problem+json (RFC 9457).
 */
export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    options?: { cause?: unknown; headers?: Record<string, string>; errors?: FieldError[]; code?: string },
  ) {
    super(detail, options?.cause === undefined ? undefined : { cause: options.cause })
    this.headers = options?.headers ?? {}
    this.errors = options?.errors
    this.code = options?.code
  }

  override name = 'AppError'
  readonly headers: Record<string, string>
  readonly errors: FieldError[] | undefined
  /** A machine-readable reason when a status alone is ambiguous (e.g. 403 `email_not_verified`). */
  readonly code: string | undefined
}

export class BadRequestError extends AppError {
  constructor(detail: string) { super(400, 'Bad Request', detail) }
}

/** Always carries the Bearer challenge the SPEC requires on every 401. */
export class UnauthorizedError extends AppError {
  constructor(detail = 'Could not validate credentials') {
    super(401, 'Unauthorized', detail, { headers: { 'www-authenticate': 'Bearer' } })
  }
}

export class ForbiddenError extends AppError {
  constructor(detail = 'Not enough privileges', code?: string) { super(403, 'Forbidden', detail, { code }) }
}

export class NotFoundError extends AppError {
  constructor(detail = 'Not found') { super(404, 'Not Found', detail) }
}

export class ConflictError extends AppError {
  constructor(detail: string) { super(409, 'Conflict', detail) }
}

export class PreconditionFailedError extends AppError {
  constructor(detail: string) { super(412, 'Precondition Failed', detail) }
}

export class UnsupportedMediaTypeError extends AppError {
  constructor(accepted: readonly string[]) {
    super(415, 'Unsupported Media Type', `Send the request body as ${accepted.join(' or ')}`)
  }
}

export class ValidationError extends AppError {
  constructor(errors: FieldError[], detail = 'Request validation failed') {
    super(422, 'Unprocessable Content', detail, { errors })
  }
}

/** 429 with Retry-After and, when the limit is known, the IETF draft RateLimit-* headers. */
export class TooManyRequestsError extends AppError {
  constructor(retryAfterSeconds: number, detail = 'Too many requests, retry later', limit?: number) {
    const seconds = String(Math.max(1, Math.ceil(retryAfterSeconds)))
    const headers: Record<string, string> = { 'retry-after': seconds }
    if (limit !== undefined) Object.assign(headers, { 'ratelimit-limit': String(limit), 'ratelimit-remaining': '0', 'ratelimit-reset': seconds })
    super(429, 'Too Many Requests', detail, { headers })
  }
}

export class ServiceUnavailableError extends AppError {
  constructor(detail = 'The database is unavailable, retry shortly', cause?: unknown) {
    super(503, 'Service Unavailable', detail, { cause, headers: { 'retry-after': '5' } })
  }
}
