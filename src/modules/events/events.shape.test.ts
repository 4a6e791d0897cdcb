import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../../test/helpers/app.js'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
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

describe('org events', () => {
  it('reach the members whose role may read the resource, as answered, and stop for a removed member', async () => {
    const [owner, viewer, member, outsider] = [await createUser(t.app), await createUser(t.app), await createUser(t.app), await createUser(t.app)]
    const org = await t.app.inject({ method: 'POST', url: '/api/v1/orgs', headers: owner.headers, payload: { name: `Events ${owner.id}` } })
    expect(org.statusCode, org.body).toBe(201)
    const orgId = org.json<{ id: number }>().id
    for (const [user, role] of [[viewer, 'viewer'], [member, 'member']] as const) {
      await t.database.db.execute(sql`insert into memberships (org_id, user_id, role) values (${orgId}, ${user.id}, ${role})`)
    }
    const base = await listenOnce(t.app)
    const [v, m, o] = [await openSse(base, '/api/v1/events', viewer.headers), await openSse(base, '/api/v1/events', member.headers), await openSse(base, '/api/v1/events', outsider.headers)]
    const post = async (user: TestUser, path: string, payload: object) => {
      const res = await t.app.inject({ method: 'POST', url: `/api/v1/orgs/${orgId}/${path}`, headers: user.headers, payload })
      expect(res.statusCode, res.body).toBe(201)
      return res.json<{ id: number }>()
    }
    const board = await post(owner, 'fixture_boards', { title: 'B', slug: 'b1', budget: '12.500', opens_at: '2026-02-01T08:00:00Z' })
    const card = await post(owner, 'fixture_cards', { title: 'C', board_id: board.id })
    // fixture_comments are read by members and above: a viewer may write one but not read it (nor its event).
    const comment = await post(viewer, 'fixture_comments', { body: 'hi', card_id: card.id })
    await eventually(async () => expect(m.messages).toHaveLength(3), 500)
    expect(m.messages.map((msg) => [msg.data.type, msg.data.data])).toEqual([
      ['fixture_boards.created', board], ['fixture_cards.created', card], ['fixture_comments.created', comment],
    ])
    expect(m.messages[0]!.data).toMatchObject({ org_id: orgId, row_id: board.id })
    expect(m.messages[0]!.data).not.toHaveProperty('owner_id')
    await eventually(async () => expect(v.messages.map((msg) => msg.data.type)).toEqual(['fixture_boards.created', 'fixture_cards.created']), 500)

    const removed = await t.app.inject({ method: 'DELETE', url: `/api/v1/orgs/${orgId}/members/${member.id}`, headers: owner.headers })
    expect(removed.statusCode, removed.body).toBe(204)
    await post(owner, 'fixture_boards', { title: 'After', slug: 'b2' })
    await eventually(async () => expect(v.messages).toHaveLength(3), 500)
    expect(m.messages).toHaveLength(3)
    expect(o.messages).toEqual([])
    for (const client of [v, m, o]) client.close()
  })
})
