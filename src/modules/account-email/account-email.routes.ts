import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import fp from 'fastify-plugin'
import type { CounterStore } from '../../shared/counter-store.js'
import { HOUR_MS, repeatWhileUp } from '../../shared/periodic.js'
import { AUTHENTICATED_ERRORS, NoContentSchema, problemResponses } from '../../shared/schemas.js'
import { createLoginLimiter } from '../auth/login-limiter.js'
import { createMailRequestLimits } from './account-email.limits.js'
import { createAccountEmailService, type AccountEmailService } from './account-email.service.js'
import { AcceptedSchema, EmailChangeSchema, EmailTokenSchema, PasswordRecoverySchema, PasswordResetSchema } from './account-email.schemas.js'
import { createEmailTokensRepository, systemClock, type Clock } from './email-tokens.repository.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Account email flows; users (sign-up, password change) and auth (login) use it too. */
    accountEmail: AccountEmailService
  }
}

export interface AccountEmailRoutesOptions {
  counterStore: CounterStore
  clock?: Clock | undefined
}

const ACCEPTED = { detail: 'If this address belongs to an active account, a message is on its way' }

/**
 * The routes of SPEC §6 at their full paths under /api/v1 (auth/… and users/me/…), and the `accountEmail`
 * decoration (fastify-plugin, so sibling modules registered after it see it).
 */
const routes: FastifyPluginAsyncTypebox<AccountEmailRoutesOptions> = async (app, { counterStore, clock }) => {
  const { mail } = app.config
  const limits = createMailRequestLimits(counterStore, mail)
  // The worker is woken after the current I/O turn, so the answer leaves before any mail work starts.
  const wake = () => { setImmediate(() => app.mailOutbox.wake()) }
  const service = createAccountEmailService({ db: app.database.db, config: app.config, clock: clock ?? systemClock, limits, cache: app.userCache, wake })
  app.decorate('accountEmail', service)
  // Dead tokens (expired or used a day ago) are dropped hourly; they would only grow the table.
  const tokens = createEmailTokensRepository(app.database.db, clock ?? systemClock)
  repeatWhileUp(app, 'email token clean-up', HOUR_MS, () => tokens.sweepDead())
  // Guessing the current password here must cost as much as guessing it at login.
  const passwordAttempts = createLoginLimiter(counterStore, app.config.loginRateLimitPerMinute)
  const publicRoute = { public: true }
  const invalidLink = 'A used, expired or unknown token is 400'
  const publicErrors = (...statuses: number[]) => problemResponses(400, 413, 415, 422, 503, ...statuses)
  const userErrors = (...statuses: number[]) => problemResponses(...AUTHENTICATED_ERRORS, 400, 413, 415, ...statuses)

  app.post('/auth/password-recovery', {
    config: publicRoute,
    schema: {
      tags: ['auth'], operationId: 'requestPasswordRecovery', summary: 'Forgot password: mail a reset link',
      description: 'Always 202 with the same body, whether the address is unknown, inactive or known; an active account gets '
        + `\`${mail.appUrl}/reset-password?token=…\` (valid 30 minutes, single use). At most ${mail.perIpPerMinute} requests `
        + `a minute per client IP (429), and one mail per address per ${mail.cooldownSeconds} s (later requests get the same 202).`,
      security: [], body: PasswordRecoverySchema, response: { 202: AcceptedSchema, ...publicErrors(429) },
    },
  }, async (request, reply) => {
    await limits.checkIp(request.ip)
    await service.requestPasswordRecovery(request.body.email)
    return reply.code(202).send(ACCEPTED)
  })

  app.post('/auth/password-reset', {
    config: publicRoute,
    schema: {
      tags: ['auth'], operationId: 'resetPassword', summary: 'Set a new password with a reset link',
      description: `${invalidLink}. An invalid new password is 422 and leaves the token usable. On success every refresh `
        + 'and access token of the account stops working, and a notice is mailed.',
      security: [], body: PasswordResetSchema, response: { 204: NoContentSchema, ...publicErrors(429) },
    },
  }, async (request, reply) => {
    await service.resetPassword(request.body.token, request.body.new_password)
    return reply.code(204).send(null)
  })

  app.post('/auth/verify-email', {
    config: publicRoute,
    schema: {
      tags: ['auth'], operationId: 'verifyEmail', summary: 'Confirm an email address',
      description: `The token from the sign-up (or resent) mail; the account gains \`email_verified: true\`. ${invalidLink}.`,
      security: [], body: EmailTokenSchema, response: { 204: NoContentSchema, ...publicErrors(429) },
    },
  }, async (request, reply) => {
    await service.verifyEmail(request.body.token)
    return reply.code(204).send(null)
  })

  app.post('/auth/confirm-email-change', {
    config: publicRoute,
    schema: {
      tags: ['auth'], operationId: 'confirmEmailChange', summary: 'Confirm a new email address',
      description: `The token mailed to the new address. The account's email changes (409 if another account took it `
        + `meanwhile; the link stays usable) and every session ends: log in with the new address. ${invalidLink}.`,
      security: [], body: EmailTokenSchema, response: { 204: NoContentSchema, ...publicErrors(409, 429) },
    },
  }, async (request, reply) => {
    await service.confirmEmailChange(request.body.token)
    return reply.code(204).send(null)
  })

  app.post('/users/me/verification-email', {
    schema: {
      tags: ['users'], operationId: 'resendVerificationEmail', summary: 'Resend the verification mail',
      description: `202. Sends a new link (older ones stop working) unless the address is already verified or a link was sent `
        + `less than ${mail.cooldownSeconds} s ago. At most ${mail.perIpPerMinute} requests a minute per client IP.`,
      response: { 202: AcceptedSchema, ...problemResponses(...AUTHENTICATED_ERRORS) },
    },
  }, async (request, reply) => {
    await limits.checkIp(request.ip)
    await service.resendVerification(request.user)
    return reply.code(202).send({ detail: 'A verification mail is on its way unless your address is verified or one was just sent' })
  })

  app.post('/users/me/email', {
    schema: {
      tags: ['users'], operationId: 'requestEmailChange', summary: 'Change your email (confirmed by mail)',
      description: 'Mails a confirmation link to the new address (valid 24 hours) and a notice to the current one; the email '
        + 'changes only when the link is used (POST /auth/confirm-email-change). A wrong `current_password` is 400 (limited '
        + 'like logins), an address another account uses is 409.',
      body: EmailChangeSchema, response: { 202: AcceptedSchema, ...userErrors(409) },
    },
  }, async (request, reply) => {
    await passwordAttempts.check(request.ip, request.user.email)
    await service.requestEmailChange(request.user, request.body.new_email, request.body.current_password)
    return reply.code(202).send({ detail: 'A confirmation link is on its way to the new address' })
  })
}

export const accountEmailRoutes = fp(routes, { name: 'account-email', dependencies: ['mail'] })
