import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'

/**
 * OpenAPI 3 generated from the route schemas (the same ones that validate and serialise),
 * served at /openapi.json, and a self-hosted Swagger UI at /docs (no CDN: works offline).
 * Routes are secured by default; public ones declare `security: []`.
 */
export const openapiPlugin = fp(async (app: FastifyInstance) => {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Keel API',
        version: '1.0.0',
        description: 'Accounts with JWT authentication and resources each user owns. Errors are application/problem+json (RFC 9457).',
        license: { name: 'MIT', identifier: 'MIT' },
      },
      servers: [{ url: '/', description: 'This server' }],
      components: {
        securitySchemes: {
          OAuth2PasswordBearer: {
            type: 'oauth2',
            description: 'Log in with your email as username and your password.',
            flows: { password: { tokenUrl: '/api/v1/auth/token', scopes: {} } },
          },
          BearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' },
        },
      },
      security: [{ OAuth2PasswordBearer: [] }, { BearerAuth: [] }],
      tags: [
        { name: 'auth', description: 'Log in, refresh and log out' },
        { name: 'users', description: 'Accounts: sign-up, your own profile, administration by superusers' },
        { name: 'items', description: 'Items: the resource each user owns' },
        { name: 'operations', description: 'Health and readiness for load balancers' },
      ],
    },
  })
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: { persistAuthorization: true, displayRequestDuration: true, tryItOutEnabled: true },
  })
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())
}, { name: 'openapi' })
