import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { memberships, orgs } from '../../src/db/schema.js'
import type { Role } from '../../src/modules/orgs/roles.js'
import type { TestUser } from './factories.js'

/**
 * An org owned by `owner`, written directly: the resource core's tests need tenants and roles, not the org routes
 * (src/modules/orgs tests those through the API).
 */
export async function createOrg(app: FastifyInstance, owner: TestUser): Promise<number> {
  const slug = `org-${randomUUID().slice(0, 12)}`
  const [org] = await app.database.db.insert(orgs).values({ name: slug, slug }).returning({ id: orgs.id })
  await addMember(app, org!.id, owner, 'owner')
  return org!.id
}

export async function addMember(app: FastifyInstance, orgId: number, user: TestUser, role: Role): Promise<void> {
  await app.database.db.insert(memberships).values({ org_id: orgId, user_id: user.id, role })
}
