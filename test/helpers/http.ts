import type { LightMyRequestResponse } from 'fastify'
import { expect } from 'vitest'

/** Asserts a problem+json answer with the given status and returns its body. */
export function expectProblem(res: LightMyRequestResponse, status: number) {
  expect(res.statusCode, res.body).toBe(status)
  expect(res.headers['content-type']).toMatch(/^application\/problem\+json/)
  const body = res.json<{ type: string; title: string; status: number; detail: string; errors?: { field: string; message: string }[] }>()
  expect(body).toMatchObject({ status, title: expect.any(String), detail: expect.any(String) })
  if (status === 401) expect(res.headers['www-authenticate']).toBe('Bearer')
  return body
}

export const isoTimestamp = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/)

/** Retries an assertion for up to ~2 s: for effects that travel asynchronously (NOTIFY to another connection). */
export async function eventually(assertion: () => Promise<void>, attempts = 100): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      return await assertion()
    } catch (err) {
      if (i >= attempts) throw err
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  }
}
