import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { CounterStore } from '../../shared/counter-store.js'
import { ValidationError } from '../../shared/errors.js'
import { NoContentSchema, problemResponses } from '../../shared/schemas.js'
import { createAuthService } from './auth.service.js'
import {
  LoginFormSchema, LoginJsonSchema, RefreshTokenBodySchema, TokenSchema,
  type LoginForm, type LoginJson, type RefreshTokenBody,
} from './auth.schemas.js'
import { createLoginLimiter } from './login-limiter.js'

export const authRoutes: FastifyPluginAsyncTypebox<{ counterStore: CounterStore }> = async (app, { counterStore }) => {
  const service = createAuthService(app.database.db, app.config, (user) => app.accountEmail.resendVerification(user))
  const limiter = createLoginLimiter(counterStore, app.config.loginRateLimitPerMinute)
  const noStore = { 'cache-control': 'no-store', pragma: 'no-cache' }
  const publicRoute = { public: true }
  const tokenResponse = {
    ...TokenSchema,
    headers: { 'Cache-Control': { type: 'string', description: 'Tokens are never cached', examples: ['no-store'] } },
  }

  app.post('/token', {
    config: { ...publicRoute, loginAttempt: true },
    schema: {
      tags: ['auth'],
      operationId: 'login',
      summary: 'Log in',
      description: 'OAuth2 password grant (form `username`, `password`) or JSON `{email, password}`. '
        + 'A wrong password and an unknown email get the same 401; a disabled account is 403. With REQUIRE_EMAIL_VERIFICATION, '
        + 'an unverified address is 403 with `code: "email_not_verified"` (and a new verification link is mailed). '
        + `At most ${app.config.loginRateLimitPerMinute} attempts a minute per client IP and per email, successful or not.`,
      security: [],
      body: {
        content: {
          'application/x-www-form-urlencoded': { schema: LoginFormSchema },
          'application/json': { schema: LoginJsonSchema },
        },
      },
      response: { 200: tokenResponse, ...problemResponses(400, 401, 403, 413, 415, 422, 429, 503) },
    },
  }, async (request, reply) => {
    // Without a Content-Type Fastify has no body schema to apply: say what is expected instead of failing later.
    if (!request.body) throw new ValidationError([{ field: 'body', message: 'send a form (username, password) or JSON (email, password)' }])
    const body = request.body as LoginForm | LoginJson
    const email = 'username' in body ? body.username : body.email
    await limiter.check(request.ip, email)
    const tokens = await service.login(email, body.password)
    return reply.headers(noStore).send(tokens)
  })

  app.post('/refresh', {
    config: publicRoute,
    schema: {
      tags: ['auth'],
      operationId: 'refreshToken',
      summary: 'Rotate a refresh token',
      description: 'Returns a new token pair; the refresh token sent is dead afterwards. Sending a rotated token again revokes every session of its user.',
      security: [],
      body: RefreshTokenBodySchema,
      response: { 200: tokenResponse, ...problemResponses(400, 401, 413, 415, 422, 429, 503) },
    },
  }, async (request, reply) => {
    const tokens = await service.refresh((request.body as RefreshTokenBody).refresh_token)
    return reply.headers(noStore).send(tokens)
  })

  app.post('/logout', {
    config: publicRoute,
    schema: {
      tags: ['auth'],
      operationId: 'logout',
      summary: 'Log out',
      description: 'Revokes the session of this refresh token. Always 204, also for an unknown, expired or revoked token.',
      security: [],
      body: RefreshTokenBodySchema,
      response: { 204: NoContentSchema, ...problemResponses(400, 413, 415, 422, 429, 503) },
    },
  }, async (request, reply) => {
    await service.logout(request.body.refresh_token)
    return reply.code(204).send(null)
  })
}
