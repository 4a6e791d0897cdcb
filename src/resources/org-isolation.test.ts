import { describe, expect, it } from 'vitest'
import { createUser, type TestUser } from '../../test/helpers/factories.js'
import { boards, fixtureMigrationsDir, fixtureResources } from '../../test/fixtures/resources.js'
import { useTwoInstances } from '../../test/helpers/instances.js'
import { createOrg } from '../../test/helpers/orgs.js'

// Org resources through real sockets on two instances of one database: the tenant boundary under concurrency. Role
// changes and removals across instances are memberships.instances.test.ts's.

const instances = useTwoInstances({ resources: fixtureResources, migrationsDir: fixtureMigrationsDir() })
type Page = Record<string, unknown> & { id?: number; items?: { id: number; org_id: number }[] }
const send = (instance: number, user: TestUser, method: string, path: string, payload?: unknown) =>
  instances.send<Page>(instance, user, method, path, payload)
let n = 0
const board = () => ({ title: `board ${++n}`, slug: `s-${process.pid}-${n}` })

describe(`${boards.name} under concurrency, two orgs, two instances`, () => {
  it('40 concurrent writes and reads from two orgs never see or touch the other org\'s rows', async () => {
    const { t } = instances
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
})
