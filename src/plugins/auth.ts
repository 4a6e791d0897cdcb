import type { FastifyInstance, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { UnauthorizedError } from '../shared/errors.js'
import { declareProblems } from './route-contract.js'

/** The authenticated caller, as the auth module resolves it from a bearer token. */
export interface AuthUser {
  id: number
  email: string
  full_name: string | null
  is_active: boolean
  is_superuser: boolean
  email_verified: boolean
  created_at: Date
  updated_at: Date | null
}

declare module 'fastify' {
  interface FastifyRequest {
    user: AuthUser
  }
  interface FastifyContextConfig {
    /** Set on routes that need no bearer token (sign-up, login, refresh, logout). */
    public?: boolean
  }
}

export interface AuthPluginOptions {
  /** Verifies an access token and loads its user; throws UnauthorizedError when the token must not be honoured. */
  resolveUser(token: string): Promise<AuthUser>
}

function bearerToken(request: FastifyRequest): string {
  const header = request.headers.authorization
  const match = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null
  if (!match) throw new UnauthorizedError('Not authenticated')
  return match[1]!
}

/**
 * Authentication on by default for every route registered in the scope that uses this plugin;
 * a route opts out with `config: { public: true }`, never by URL matching.
 */
export const authPlugin = fp(async (app: FastifyInstance, options: AuthPluginOptions) => {
  app.decorateRequest('user', null as unknown as AuthUser)
  // The document declares the 401 of every route this plugin guards (see plugins/route-contract.ts).
  app.addHook('onRoute', (route) => {
    if (!route.config?.public) declareProblems(route, [401])
  })
  app.addHook('onRequest', async (request, reply) => {
    if (request.routeOptions.config.public) return
    // One user's answer (or the 401 that refuses it) must never be kept by a shared cache or the browser's history.
    reply.header('cache-control', 'no-store')
    request.user = await options.resolveUser(bearerToken(request))
  })
}, { name: 'auth' })
