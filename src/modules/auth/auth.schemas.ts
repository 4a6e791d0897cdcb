import { Type, type Static } from 'typebox'

const Secret = { minLength: 1, maxLength: 1024, examples: ['correct horse battery'] }

export const TokenSchema = Type.Object({
  access_token: Type.String({
    description: 'JWT to send as `Authorization: Bearer …`',
    examples: ['eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwidHlwZSI6ImFjY2VzcyJ9.c2lnbmF0dXJl'],
  }),
  refresh_token: Type.String({ description: 'Opaque; exchange it at /auth/refresh (single use)', examples: ['Yq3cW0b1h8mQ2uJrV7xk5sN4pZt6eL9aGfDo0iHwXyE'] }),
  token_type: Type.Literal('bearer', { examples: ['bearer'] }),
  expires_in: Type.Integer({ description: 'Access-token lifetime in seconds', examples: [1800] }),
}, {
  title: 'Token',
  description: 'A new access and refresh token pair',
  examples: [{
    access_token: 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIiwidHlwZSI6ImFjY2VzcyJ9.c2lnbmF0dXJl',
    refresh_token: 'Yq3cW0b1h8mQ2uJrV7xk5sN4pZt6eL9aGfDo0iHwXyE',
    token_type: 'bearer',
    expires_in: 1800,
  }],
})

/** OAuth2 password grant, as sent by the docs' Authorize button (`username` is the email). */
export const LoginFormSchema = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 320, description: 'Your email', examples: ['ada@example.com'] }),
  password: Type.String(Secret),
  grant_type: Type.Optional(Type.Literal('password', { examples: ['password'] })),
  scope: Type.Optional(Type.String({ maxLength: 1024, description: 'Accepted and ignored (OAuth2 clients send it)', examples: [''] })),
  client_id: Type.Optional(Type.String({ maxLength: 1024, description: 'Accepted and ignored (OAuth2 clients send it)', examples: [''] })),
  client_secret: Type.Optional(Type.String({ maxLength: 1024, description: 'Accepted and ignored (OAuth2 clients send it)', examples: [''] })),
}, {
  additionalProperties: false,
  title: 'LoginForm',
  examples: [{ grant_type: 'password', username: 'ada@example.com', password: 'correct horse battery' }],
})

export const LoginJsonSchema = Type.Object({
  email: Type.String({ minLength: 1, maxLength: 320, examples: ['ada@example.com'] }),
  password: Type.String({ minLength: 1, maxLength: 1024, examples: ['correct horse battery'] }),
}, { additionalProperties: false, title: 'LoginJson', examples: [{ email: 'ada@example.com', password: 'correct horse battery' }] })

export const RefreshTokenBodySchema = Type.Object({
  refresh_token: Type.String({
    minLength: 1,
    maxLength: 1024,
    description: 'The refresh token from the last login or refresh',
    examples: ['Yq3cW0b1h8mQ2uJrV7xk5sN4pZt6eL9aGfDo0iHwXyE'],
  }),
}, { additionalProperties: false, title: 'RefreshTokenBody', examples: [{ refresh_token: 'Yq3cW0b1h8mQ2uJrV7xk5sN4pZt6eL9aGfDo0iHwXyE' }] })

export type LoginForm = Static<typeof LoginFormSchema>
export type LoginJson = Static<typeof LoginJsonSchema>
export type RefreshTokenBody = Static<typeof RefreshTokenBodySchema>
