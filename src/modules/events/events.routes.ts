import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { onPrimary } from '../../db/request-context.js'
import { problemResponses } from '../../shared/schemas.js'
import { ServiceUnavailableError, UnauthorizedError, ValidationError } from '../../shared/errors.js'
import { createAccessResolver } from '../auth/auth.access.js'
import { createAccessTokens } from '../auth/auth.tokens.js'
import { createEventsRepository } from './events.repository.js'
import { EventStream } from './events.stream.js'

const TICKET_TTL_SECONDS = 60
// A client this far behind (bytes not yet taken by its socket) gets no more live events: it is fed from the log as
// fast as it reads, and disconnected if it takes nothing for STALL_MS. Memory per stream: this plus a page of the log.
const MAX_BUFFER_BYTES = 1_048_576
const STALL_MS = 10_000
const TYPE = /^[a-z][a-z0-9_]*\.(created|updated|deleted)$/

const EventsQuerySchema = Type.Object({
  types: Type.Optional(Type.String({
    minLength: 1, maxLength: 2_000, description: 'Only these event types, comma-separated', examples: ['items.created,items.deleted'],
  })),
  ticket: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'A one-time ticket from POST /events/tickets, for EventSource' })),
}, { additionalProperties: false })

const EventsHeadersSchema = Type.Object({
  'last-event-id': Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$', description: 'Resume after this event id (sent by EventSource on reconnection)' })),
})

const TicketSchema = Type.Object({
  ticket: Type.String({ description: 'Single use, valid 60 seconds: GET /api/v1/events?ticket=…', examples: ['q2Xc…'] }),
  expires_at: Type.String({ format: 'date-time', examples: ['2026-11-23T18:01:00.000Z'] }),
}, { $id: 'EventTicket', title: 'EventTicket', examples: [{ ticket: 'q2XcVb0x0rJ3nWw9yq4m2j8o6Jd5kVnq1t0r7y3u9iE', expires_at: '2026-11-23T18:01:00.000Z' }] })

const bearerOf = (request: FastifyRequest) => /^Bearer\s+(\S+)\s*$/i.exec(request.headers.authorization ?? '')?.[1]

export const eventsRoutes: FastifyPluginAsyncTypebox<{ resourceNames: readonly string[] }> = async (app, { resourceNames }) => {
  app.addSchema(TicketSchema)
  const repo = createEventsRepository(app.database.db)
  const tokens = createAccessTokens(app.config)
  const resolveUser = createAccessResolver(app.database.db, app.config, app.userCache)
  const known = new Set(resourceNames)
  const tags = ['events']

  const parseTypes = (text: string | undefined) => {
    if (text === undefined) return undefined
    const types = text.split(',').map((t) => t.trim())
    const bad = types.find((t) => !TYPE.test(t) || !known.has(t.slice(0, t.lastIndexOf('.'))))
    if (bad !== undefined) {
      throw new ValidationError([{ field: 'query.types', message: `"${bad}" is not <resource>.created|updated|deleted of a resource (${[...known].join(', ')})` }])
    }
    return new Set(types)
  }

  /** A bearer token, or a ticket (EventSource cannot send headers); either way the credentials the stream rests on. */
  const authenticate = async (request: FastifyRequest, ticket: string | undefined) => {
    const token = bearerOf(request)
    if (token !== undefined) {
      const user = await resolveUser(token)
      return { userId: user.id, tokenVersion: tokens.verify(token).tokenVersion }
    }
    if (ticket === undefined) throw new UnauthorizedError('Not authenticated')
    const holder = await repo.consumeTicket(ticket)
    const user = holder && (await repo.grants([holder.userId], [])).users.get(holder.userId)
    // A password change, deactivation or deletion since the ticket was issued voids it.
    if (!user?.isActive || user.tokenVersion !== holder!.tokenVersion) throw new UnauthorizedError('Unknown, used or expired ticket')
    return holder!
  }

  app.get('/events', {
    config: { public: true },
    schema: {
      tags, operationId: 'streamEvents', summary: 'Stream events (Server-Sent Events)',
      description: 'A `text/event-stream` of the changes you may read now: your own rows, and rows of your orgs at your role. '
        + 'Each message has `id` (resume with `Last-Event-ID`) and `data`, an Event. A comment every 15 s keeps it alive. '
        + 'Authenticate with a bearer token or, from a browser\'s EventSource, `?ticket=` from POST /events/tickets. '
        + 'The stream ends when the server shuts down, when your access token\'s lifetime is over, or when your '
        + 'credentials change; a client that stops reading is disconnected. Reconnect with `Last-Event-ID`.',
      querystring: EventsQuerySchema, headers: EventsHeadersSchema,
      response: {
        200: { description: 'The event stream', content: { 'text/event-stream': { schema: Type.String({ examples: ['id: 42\ndata: {"id":42,"type":"items.created",…}\n\n'] }) } } },
        ...problemResponses(401, 422, 429, 503),
      },
    },
  }, async (request, reply) => {
    const types = parseTypes(request.query.types)
    // This route authenticates in its handler, after reads were routed to a replica: revocation is read on the primary.
    const { userId, tokenVersion } = await onPrimary(() => authenticate(request, request.query.ticket))
    if (!app.events.started()) throw new ServiceUnavailableError('Event streams are starting: retry shortly')
    const resumeAt = request.headers['last-event-id']
    const stream = new EventStream(reply, {
      userId, tokenVersion, types,
      position: resumeAt === undefined ? app.events.position() : Number(resumeAt),
      maxBufferBytes: MAX_BUFFER_BYTES,
      stallMs: STALL_MS,
      expiresAt: Date.now() + app.config.accessTokenTtlSeconds * 1_000,
      onClose: (closed, reason) => app.events.remove(closed, reason),
    })
    const answer = stream.start()
    app.events.add(stream)
    return answer
  })

  app.post('/events/tickets', {
    schema: {
      tags, operationId: 'createEventTicket', summary: 'Get a one-time ticket for EventSource',
      description: 'Browsers\' EventSource cannot send an Authorization header: open `GET /api/v1/events?ticket=…` with '
        + 'this ticket within 60 seconds. It works once; only its hash is stored.',
      response: { 201: Type.Ref('EventTicket', { description: 'The ticket' }), ...problemResponses(401, 422, 429, 503) },
    },
  }, async (request, reply) => {
    const { tokenVersion } = tokens.verify(bearerOf(request)!)
    const { ticket, expiresAt } = await repo.issueTicket(request.user.id, tokenVersion, TICKET_TTL_SECONDS)
    return reply.code(201).header('cache-control', 'no-store').send({ ticket, expires_at: expiresAt.toISOString() })
  })
}
