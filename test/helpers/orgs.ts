import type { FastifyInstance } from 'fastify'
import { expect } from 'vitest'
import type { Database } from '../../src/db/client.js'
import { createUser, type TestUser } from './factories.js'
import { memberships } from '../../src/modules/orgs/orgs.table.js'
import type { Role } from '../../src/modules/orgs/roles.js'

export interface TestOrg {
  id: number
  slug: string
  /** One user per role; `owner` created the org. */
  users: Record<Role, TestUser>
}

/** Creates an org through the API. */
export async function createOrg(app: FastifyInstance, owner: TestUser, payload: Record<string, unknown> = { name: 'Test org' }) {
  const res = await app.inject({ method: 'POST', url: '/api/v1/orgs', headers: owner.headers, payload })
  expect(res.statusCode, res.body).toBe(201)
  return res.json<{ id: number; slug: string; name: string }>()
}

/** Set-up only: a membership written straight to the table (tests of invitations add members through the API). */
export async function addMember(database: Database, orgId: number, userId: number, role: Role): Promise<void> {
  await database.db.insert(memberships).values({ org_id: orgId, user_id: userId, role })
}

/** An org with one member of each role. */
export async function createOrgWithRoles(app: FastifyInstance, database: Database): Promise<TestOrg> {
  const owner = await createUser(app)
  const org = await createOrg(app, owner)
  const users = { owner } as Record<Role, TestUser>
  for (const role of ['admin', 'member', 'viewer'] as const) {
    users[role] = await createUser(app)
    await addMember(database, org.id, users[role].id, role)
  }
  return { id: org.id, slug: org.slug, users }
}
