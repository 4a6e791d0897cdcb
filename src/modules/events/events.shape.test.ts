import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser } from '../../../test/helpers/factories.js'
import { eventually } from '../../../test/helpers/http.js'
import { fixtureMigrationsDir, fixtureResources } from '../../../test/fixtures/resources.js'
import { listenOnce, openSse } from '../../../test/helpers/sse.js'

let t: TestApp
beforeAll(async () => {
  t = await buildTestApp({}, { resources: fixtureResources, migrationsDir: fixtureMigrationsDir() })
})
afterAll(async () => t.close())

describe('event data', () => {
  it('is the row exactly as the API answers it, for every field type (generated migrations carry the trigger)', async () => {
    const user = await createUser(t.app)
    const client = await openSse(await listenOnce(t.app), '/api/v1/events', user.headers)
    const project = await t.app.inject({
      method: 'POST', url: '/api/v1/fixture_projects', headers: user.headers,
      payload: { title: 'P', code: 'C1', budget: '1200.50', starts_on: '2026-03-01', meta: { n: 1.5, ok: true }, kickoff: '2026-05-01T10:00:00.123+02:00' },
    })
    expect(project.statusCode, project.body).toBe(201)
    const zero = await t.app.inject({ method: 'PATCH', url: `/api/v1/fixture_projects/${project.json<{ id: number }>().id}`, headers: user.headers, payload: { budget: '7' } })
    const task = await t.app.inject({
      method: 'POST', url: '/api/v1/fixture_tasks', headers: user.headers,
      payload: { title: 'T', project_id: project.json<{ id: number }>().id, due_at: '2026-06-01T00:00:00Z' },
    })
    expect(task.statusCode, task.body).toBe(201)
    await eventually(async () => expect(client.messages).toHaveLength(3))
    expect(client.messages.map((m) => [m.data.type, m.data.data])).toEqual([
      ['fixture_projects.created', project.json()],
      ['fixture_projects.updated', zero.json()],
      ['fixture_tasks.created', task.json()],
    ])
    client.close()
  })
})
