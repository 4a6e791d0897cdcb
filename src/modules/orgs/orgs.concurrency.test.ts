import { and, count, eq } from 'drizzle-orm'
import { beforeAll, describe, expect, it } from 'vitest'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
import { useTwoInstances } from '../../../test/helpers/instances.js'
import { addMember, createOrg } from '../../../test/helpers/orgs.js'
import { memberships } from './orgs.table.js'

// Two instances on one database, every request through a real socket: the races are the ones a load balancer makes.

const ROUNDS = 25
const instances = useTwoInstances()
const send = (instance: 0 | 1, user: TestUser, method: string, path: string, payload?: unknown) => instances.send(instance, user, method, path, payload)
type Answer = Awaited<ReturnType<typeof send>>

const owners = async (orgId: number) => (await instances.t.database.db.select({ n: count() }).from(memberships)
  .where(and(eq(memberships.org_id, orgId), eq(memberships.role, 'owner'))))[0]!.n

describe('the last owner, whatever the concurrency', () => {
  let a: TestUser
  let b: TestUser
  beforeAll(async () => {
    a = await createUser(instances.t.app)
    b = await createUser(instances.t.app)
  })

  // Each scenario: A's request on one instance, B's on the other, sent at once, ROUNDS times on a fresh two-owner org.
  const scenarios: [string, (org: number) => [Promise<Answer>, Promise<Answer>], number[]][] = [
    ['mutual demotion', (org) => [send(0, a, 'PATCH', `/orgs/${org}/members/${b.id}`, { role: 'admin' }), send(1, b, 'PATCH', `/orgs/${org}/members/${a.id}`, { role: 'admin' })], [200, 403]],
    ['both leave', (org) => [send(0, a, 'DELETE', `/orgs/${org}/members/${a.id}`), send(1, b, 'DELETE', `/orgs/${org}/members/${b.id}`)], [204, 409]],
    ['mutual removal', (org) => [send(0, a, 'DELETE', `/orgs/${org}/members/${b.id}`), send(1, b, 'DELETE', `/orgs/${org}/members/${a.id}`)], [204, 404]],
    ['self-demotion against leaving', (org) => [send(0, a, 'PATCH', `/orgs/${org}/members/${a.id}`, { role: 'member' }), send(1, b, 'DELETE', `/orgs/${org}/members/${b.id}`)], [200, 204, 409]],
  ]
  for (const [name, race, allowed] of scenarios) {
    it(`${name}: ${ROUNDS} rounds, always exactly one winner and one owner left`, async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const org = await createOrg(instances.t.app, a, { name: `race ${round}` })
        await addMember(instances.t.database, org.id, b.id, 'owner')
        const answers = await Promise.all(race(org.id))
        const statuses = answers.map((x) => x.status).sort()
        expect(statuses.every((s) => allowed.includes(s)), `round ${round}: ${JSON.stringify(answers)}`).toBe(true)
        expect(statuses.filter((s) => s < 300), `round ${round}: ${JSON.stringify(answers)}`).toHaveLength(1)
        expect(await owners(org.id), `round ${round}`).toBe(1)
      }
    })
  }
})

describe('isolation between two orgs under concurrent requests', () => {
  it('40 interleaved requests of two orgs\' members on two instances: each sees only its own org', async () => {
    const [x, y] = [await createUser(instances.t.app), await createUser(instances.t.app)]
    const [orgX, orgY] = [await createOrg(instances.t.app, x, { name: 'X' }), await createOrg(instances.t.app, y, { name: 'Y' })]
    const requests = Array.from({ length: 40 }, (_, i) => {
      const [user, own, other] = i % 2 ? [x, orgX, orgY] : [y, orgY, orgX]
      const instance = (i >> 1) % 2 as 0 | 1
      switch (i % 8 >> 1) {
        case 0: return send(instance, user, 'GET', `/orgs/${own.id}`).then((r) => expect([r.status, r.body.id]).toEqual([200, own.id]))
        case 1: return send(instance, user, 'GET', `/orgs/${other.id}/members`).then((r) => expect(r.status).toBe(404))
        case 2: return send(instance, user, 'GET', `/orgs/${own.id}/members`).then((r) => expect(r.body.items).toEqual([expect.objectContaining({ user_id: user.id })]))
        default: return send(instance, user, 'PATCH', `/orgs/${other.id}`, { name: 'taken over' }).then((r) => expect(r.status).toBe(404))
      }
    })
    await Promise.all(requests)
    expect((await send(0, x, 'GET', '/orgs')).body).toMatchObject({ total: 1, items: [{ id: orgX.id, name: 'X' }] })
    expect((await send(1, y, 'GET', '/orgs')).body).toMatchObject({ total: 1, items: [{ id: orgY.id, name: 'Y' }] })
  })
})

describe('membership changes take effect at once on the other instance', () => {
  it(`${ROUNDS} rounds: removal, demotion and org deletion on one instance; the very next request on the other sees it`, async () => {
    const owner = await createUser(instances.t.app)
    const member = await createUser(instances.t.app)
    for (let round = 0; round < ROUNDS; round++) {
      const org = await createOrg(instances.t.app, owner, { name: `instant ${round}` })
      await addMember(instances.t.database, org.id, member.id, 'admin')
      // Warm the other instance's cache with the role.
      expect((await send(1, member, 'PATCH', `/orgs/${org.id}`, { name: 'renamed' })).status).toBe(200)
      expect((await send(0, owner, 'PATCH', `/orgs/${org.id}/members/${member.id}`, { role: 'viewer' })).status).toBe(200)
      expect((await send(1, member, 'PATCH', `/orgs/${org.id}`, { name: 'again' })).status, `round ${round}: demotion`).toBe(403)
      expect((await send(1, member, 'GET', `/orgs/${org.id}`)).status).toBe(200)
      expect((await send(0, owner, 'DELETE', `/orgs/${org.id}/members/${member.id}`)).status).toBe(204)
      expect((await send(1, member, 'GET', `/orgs/${org.id}/members`)).status, `round ${round}: removal`).toBe(404)
      await addMember(instances.t.database, org.id, member.id, 'member')
      expect((await send(1, member, 'GET', `/orgs/${org.id}/members`)).status).toBe(200)
      expect((await send(0, owner, 'DELETE', `/orgs/${org.id}`)).status).toBe(204)
      expect((await send(1, member, 'GET', `/orgs/${org.id}/members`)).status, `round ${round}: org deletion`).toBe(404)
    }
  })
})
