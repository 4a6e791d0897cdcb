import { randomUUID } from 'node:crypto'
import { eq } from 'drizzle-orm'
import type { FastifyInstance } from 'fastify'
import { expect } from 'vitest'
import { users } from '../../src/db/schema.js'
import type { Database } from '../../src/db/client.js'

export interface TestUser {
  id: number
  email: string
  password: string
  accessToken: string
  refreshToken: string
  headers: { authorization: string }
}

export const uniqueEmail = (prefix = 'user') => `${prefix}-${randomUUID().slice(0, 12)}@example.com`

/** Signs up and logs in through the API; `superuser` flips the flag in the database (no API can). */
export async function createUser(app: FastifyInstance, options: { superuser?: boolean; database?: Database } = {}): Promise<TestUser> {
  const email = uniqueEmail()
  const password = `pw-${randomUUID()}`
  const signUp = await app.inject({ method: 'POST', url: '/api/v1/users', payload: { email, password } })
  expect(signUp.statusCode, signUp.body).toBe(201)
  const id = signUp.json<{ id: number }>().id
  if (options.superuser) {
    if (!options.database) throw new Error('createUser({ superuser }) needs the database')
    await options.database.db.update(users).set({ is_superuser: true }).where(eq(users.id, id))
  }
  const tokens = await login(app, email, password)
  return { id, email, password, ...tokens, headers: authHeaders(tokens.accessToken) }
}

export async function login(app: FastifyInstance, email: string, password: string) {
  const res = await app.inject({ method: 'POST', url: '/api/v1/auth/token', payload: { email, password } })
  expect(res.statusCode, res.body).toBe(200)
  const body = res.json<{ access_token: string; refresh_token: string }>()
  return { accessToken: body.access_token, refreshToken: body.refresh_token }
}

export const authHeaders = (accessToken: string) => ({ authorization: `Bearer ${accessToken}` })
