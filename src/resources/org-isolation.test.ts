import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../../test/helpers/app.js'
import { createUser, type TestUser } from '../../test/helpers/factories.js'
import { boards, fixtureMigrationsDir, fixtureResources } from '../../test/fixtures/resources.js'
import { baseUrl, buildPeer } from '../../test/helpers/instances.js'
import { addMember, createOrg } from '../../test/helpers/orgs.js'

// Org resources through real sockets on two instances of one database: the tenant boundary under concurrency, and
// role changes and removals that must hold on the very next request, whichever instance serves it.

let t: TestApp
let peer: Awaited<ReturnType<typeof buildPeer>>
let urls: [string, string]
beforeAll(async () => {
  t = await buildTestApp({}, { resources: fixtureResources, migrationsDir: fixtureMigrationsDir() })
  peer = await buildPeer(t, fixtureResources)
  urls = [await baseUrl(t.app), await baseUrl(peer.app)]
})
afterAll(async () => {
  await peer.close()
  await t.close()
})

interface Answer { status: number; body: Record<string, unknown> & { id?: number; items?: { id: number; org_id: number }[] } }
async function send(instance: number, user: TestUser, method: string, path: string, payload?: unknown): Promise<Answer> {
  const res = await fetch(`${urls[instance % 2]}/api/v1${path}`, {
    method,
    headers: { ...user.headers, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
    body: payload === undefined ? undefined : JSON.stringify(payload),
  })
  const text = await res.text()
  return { status: res.status, body: text ? JSON.parse(text) as Answer['body'] : {} }
}
let n = 0
const board = () => ({ title: `board ${++n}`, slug: `s-${process.pid}-${n}` })

describe(`${boards.name} under concurrency, two orgs, two instances`, () => {
  it('40 concurrent writes and reads from two orgs never see or touch the other org\'s rows', async () => {
    const [a, b] = [await createUser(t.app), await createUser(t.app)]
    const orgs = [(await createOrg(t.app, a)).id, (await createOrg(t.app, b)).id] as const
    const users = [a, b]
    const seeded = await Promise.all([0, 1].map((i) => send(i, users[i]!, 'POST', `/orgs/${orgs[i]}/${boards.name}`, board())))
    const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => {
      const me = i % 2
      const other = seeded[1 - me]!.body.id!
      switch (i % 8) {
        case 0: case 1: return send(i, users[me]!, 'POST', `/orgs/${orgs[me]}/${boards.name}`, board())
        case 2: case 3: return send(i, users[me]!, 'GET', `/orgs/${orgs[me]}/${boards.name}?limit=100`)
        case 4: case 5: return send(i, users[me]!, 'PATCH', `/orgs/${orgs[me]}/${boards.name}/${other}`, { title: 'taken over' })
        default: return send(i, users[me]!, 'GET', `/orgs/${orgs[1 - me]}/${boards.name}/${other}`)
      }
    }))
    for (const [i, answer] of answers.entries()) {
      const expected = [201, 201, 200, 200, 404, 404, 404, 404][i % 8]
      expect(answer.status, `request ${i}: ${JSON.stringify(answer.body)}`).toBe(expected)
      if (answer.body.items) expect(answer.body.items.every((row) => row.org_id === orgs[i % 2])).toBe(true)
    }
    for (const i of [0, 1]) {
      const page = await send(i, users[i]!, 'GET', `/orgs/${orgs[i]}/${boards.name}?limit=100`)
      expect(page.body.total).toBe(6) // the seeded row and 5 of the 40
      expect(page.body.items!.every((row) => row.org_id === orgs[i])).toBe(true)
      expect((await send(i, users[i]!, 'GET', `/orgs/${orgs[i]}/${boards.name}/${seeded[i]!.body.id}`)).body.title).toMatch(/^board /)
    }
  })

  it('a demotion and a removal on one instance hold on the next request on the other, 20 rounds', async () => {
    const owner = await createUser(t.app)
    const colleague = await createUser(t.app)
    for (let round = 0; round < 20; round++) {
      const org = (await createOrg(t.app, owner, { name: `round ${round}` })).id
      await addMember(t.database, org, colleague.id, 'member')
      const [here, there] = [round % 2, (round + 1) % 2]
      // The colleague's role is now cached on the instance that will answer its next request.
      expect((await send(there, colleague, 'POST', `/orgs/${org}/${boards.name}`, board())).status).toBe(201)
      expect((await send(here, owner, 'PATCH', `/orgs/${org}/members/${colleague.id}`, { role: 'viewer' })).status).toBe(200)
      expect((await send(there, colleague, 'POST', `/orgs/${org}/${boards.name}`, board())).status, `round ${round}: demoted`).toBe(403)
      expect((await send(there, colleague, 'GET', `/orgs/${org}/${boards.name}`)).status).toBe(200)
      expect((await send(here, owner, 'DELETE', `/orgs/${org}/members/${colleague.id}`)).status).toBe(204)
      expect((await send(there, colleague, 'GET', `/orgs/${org}/${boards.name}`)).status, `round ${round}: removed`).toBe(404)
    }
  })
})
