import { describe, expect, it } from 'vitest'
import { fixtureMigrationsDir, fixtureResources } from '../../../test/fixtures/resources.js'
import { createUser, type TestUser } from '../../../test/helpers/factories.js'
import { useTwoInstances } from '../../../test/helpers/instances.js'
import { addMember, createOrg } from '../../../test/helpers/orgs.js'

// The hot path: an org resource's routes take the caller's role from the membership cache (app.memberships). A change
// made through instance A must hold for the very next request on instance B, whose cache held the old role.

const ROUNDS = 50
const instances = useTwoInstances({ resources: fixtureResources, migrationsDir: fixtureMigrationsDir() })
const send = async (instance: 0 | 1, user: TestUser, method: string, path: string, payload?: unknown) =>
  (await instances.send(instance, user, method, path, payload)).status

describe('membership changes on one instance hold at once on the other (org resources, cached role)', () => {
  it(`${ROUNDS} rounds each of demotion, removal and org deletion`, async () => {
    const { t } = instances
    const owner = await createUser(t.app)
    const member = await createUser(t.app)
    const stale: string[] = []
    for (let round = 0; round < ROUNDS; round++) {
      const org = await createOrg(t.app, owner, { name: `instances ${round}` })
      const boards = `/orgs/${org.id}/fixture_boards`
      await addMember(t.database, org.id, member.id, 'member')
      expect(await send(1, member, 'POST', boards, { title: 'warm', slug: `w${round}` })).toBe(201) // B caches "member"
      expect(await send(0, owner, 'PATCH', `/orgs/${org.id}/members/${member.id}`, { role: 'viewer' })).toBe(200)
      if (await send(1, member, 'POST', boards, { title: 'late', slug: `l${round}` }) !== 403) stale.push(`demotion ${round}`)
      expect(await send(1, member, 'GET', boards)).toBe(200) // B caches "viewer"
      expect(await send(0, owner, 'DELETE', `/orgs/${org.id}/members/${member.id}`)).toBe(204)
      if (await send(1, member, 'GET', boards) !== 404) stale.push(`removal ${round}`)
      await addMember(t.database, org.id, member.id, 'viewer')
      expect(await send(1, member, 'GET', boards)).toBe(200)
      expect(await send(0, owner, 'DELETE', `/orgs/${org.id}`)).toBe(204)
      if (await send(1, member, 'GET', boards) !== 404) stale.push(`org deletion ${round}`)
    }
    expect(stale).toEqual([])
  })
})
