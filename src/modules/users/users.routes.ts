import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import type { CounterStore } from '../../shared/counter-store.js'
import { ForbiddenError } from '../../shared/errors.js'
import { createLoginLimiter } from '../auth/login-limiter.js'
import { createPageAnswers } from '../../resources/pages.js'
import { AUTHENTICATED_ERRORS, IdParamsSchema, NoContentSchema, problemResponses } from '../../shared/schemas.js'
import { createUsersService } from './users.service.js'
import {
  PasswordChangeSchema, UserAdminUpdateSchema, UserCreateSchema, UserSchema, UsersListQuerySchema,
  UsersPageSchema, UserUpdateMeSchema,
} from './users.schemas.js'

const userResponse = (description: string) => Type.Ref('User', { description })

export const usersRoutes: FastifyPluginAsyncTypebox<{ counterStore: CounterStore }> = async (app, { counterStore }) => {
  app.addSchema(UserSchema)
  const service = createUsersService(app.database.db, app.config, app.userCache, app.accountEmail)
  // Guessing the current password here must cost as much as guessing it at login.
  const passwordAttempts = createLoginLimiter(counterStore, app.config.loginRateLimitPerMinute)
  const tags = ['users']
  const answerPage = createPageAnswers(app.config.secretKey, 'users')
  const errors = (...statuses: number[]) => problemResponses(...AUTHENTICATED_ERRORS, ...statuses)

  // Superuser routes check the flag first: a non-superuser learns nothing, not even whether an id exists.
  const requireSuperuser = async (request: { user: { is_superuser: boolean } }) => {
    if (!request.user.is_superuser) throw new ForbiddenError('Only superusers may manage other accounts')
  }

  app.post('/', {
    config: { public: true },
    schema: {
      tags, operationId: 'signUp', summary: 'Sign up',
      description: 'Creates an account. The email is stored lower-cased and must be unique (case-insensitively); '
        + 'the password needs 8 or more characters and at most 72 bytes. A verification link is mailed to the address '
        + '(POST /auth/verify-email). Log in afterwards for tokens.',
      security: [], body: UserCreateSchema,
      response: { 201: userResponse('The new account'), ...problemResponses(400, 409, 413, 415, 422, 429, 503) },
    },
  }, async (request, reply) => reply.code(201).send(await service.signUp(request.body)))

  app.get('/me', {
    schema: {
      tags, operationId: 'getMe', summary: 'Your account', description: 'The account the bearer token belongs to.',
      response: { 200: userResponse('Your account'), ...errors() },
    },
  }, async (request) => request.user)

  app.patch('/me', {
    schema: {
      tags, operationId: 'updateMe', summary: 'Update your account',
      description: 'Changes your full name. The email is not changed here: POST /users/me/email mails a confirmation link to the new address.',
      body: UserUpdateMeSchema, response: { 200: userResponse('Your updated account'), ...errors(400, 413, 415) },
    },
  }, async (request) => service.updateMe(request.user.id, request.body))

  app.put('/me/password', {
    schema: {
      tags, operationId: 'changePassword', summary: 'Change your password',
      description: 'A wrong `current_password` is 400; attempts are limited like logins '
        + `(${app.config.loginRateLimitPerMinute} a minute per client IP and per account). `
        + 'Every refresh token and every access token issued before the change stop working: log in again.',
      body: PasswordChangeSchema, response: { 204: NoContentSchema, ...errors(400, 413, 415) },
    },
  }, async (request, reply) => {
    await passwordAttempts.check(request.ip, request.user.email)
    await service.changePassword(request.user.id, request.body)
    return reply.code(204).send(null)
  })

  app.delete('/me', {
    schema: {
      tags, operationId: 'deleteMe', summary: 'Delete your account',
      description: 'Your items go with it and your tokens stop working. The last active superuser cannot delete itself (409). '
        + 'The last owner of an organization with other members cannot either (409 naming it); organizations you are the only member of go with you.',
      response: { 204: NoContentSchema, ...errors(409) },
    },
  }, async (request, reply) => {
    await service.delete(request.user.id)
    return reply.code(204).send(null)
  })

  app.get('/', {
    onRequest: requireSuperuser,
    schema: {
      tags, operationId: 'listUsers', summary: 'List users',
      description: 'Superusers only. Every account, a page at a time (`skip`, `limit`), ordered by id. With `cursor` (empty for the '
        + 'first page, then `next_cursor`), keyset pages: no count, and no account skipped or repeated while accounts are added or removed.',
      querystring: UsersListQuerySchema,
      response: {
        200: { ...UsersPageSchema, headers: { Link: { type: 'string', description: 'The next page: `<url with cursor=next_cursor>; rel="next"`; absent on the last page' } } },
        ...errors(403),
      },
    },
  }, async (request, reply) => answerPage(request.url, reply, { ...request.query, sort: 'id' }, (query) => service.list(query)))

  app.get('/:id', {
    onRequest: requireSuperuser,
    schema: {
      tags, operationId: 'getUser', summary: 'Get a user',
      description: 'Superusers only. Anyone else gets 403, whether or not the id exists.', params: IdParamsSchema,
      response: { 200: userResponse('The account'), ...errors(403, 404) },
    },
  }, async (request) => service.get(request.params.id))

  app.patch('/:id', {
    onRequest: requireSuperuser,
    schema: {
      tags, operationId: 'updateUser', summary: 'Update a user',
      description: 'Superusers only; only the fields sent change. The last active superuser cannot be deactivated or demoted (409).',
      params: IdParamsSchema, body: UserAdminUpdateSchema,
      response: { 200: userResponse('The updated account'), ...errors(400, 403, 404, 409, 413, 415) },
    },
  }, async (request) => service.updateAny(request.params.id, request.body))

  app.delete('/:id', {
    onRequest: requireSuperuser,
    schema: {
      tags, operationId: 'deleteUser', summary: 'Delete a user',
      description: 'Superusers only. Their items go with them, and so do the organizations they are the only member of. '
        + 'The last active superuser, or the last owner of an organization with other members, cannot be deleted (409).',
      params: IdParamsSchema, response: { 204: NoContentSchema, ...errors(403, 404, 409) },
    },
  }, async (request, reply) => {
    await service.delete(request.params.id)
    return reply.code(204).send(null)
  })
}
