import type { FastifyRequest } from 'fastify'
import { isAtLeast, isRole, type Role } from '../modules/orgs/roles.js'
import { orgNotFound } from '../modules/orgs/org-access.js'
import { ForbiddenError } from '../shared/errors.js'
import { GrammarError } from './grammar.js'

export type Operation = 'read' | 'create' | 'update' | 'delete'
export const OPERATIONS: readonly Operation[] = ['read', 'create', 'update', 'delete']

/** A minimum role, or `creator`: the row's creator, or an admin (update and delete only). */
export type AccessRule = Role | 'creator'
export type Access = Record<Operation, AccessRule>

/** SPEC §8: a viewer reads, a member creates and updates, an admin deletes. */
export const DEFAULT_ORG_ACCESS: Access = { read: 'viewer', create: 'member', update: 'member', delete: 'admin' }

export type ScopeKind = 'user' | 'org'

/**
 * Who asks, in which tenant. Every statement of the repository carries `tenantId` (the owner, or the org) in its
 * WHERE clause; an insert stamps `userId` as the creator. `onlyCreatedBy` narrows updates and deletes to the rows
 * that user created, when the operation's rule is `creator` and the caller is below admin.
 */
export interface Caller {
  tenantId: number
  userId: number
  onlyCreatedBy?: number
}

/**
 * How a scope is stored and reached: the tenant column (the key of every index and foreign key), the URL prefix
 * under /api/v1, and how a request becomes a Caller. The only place the core tells a user scope from an org scope.
 */
export interface Scope {
  kind: ScopeKind
  tenantColumn: 'owner_id' | 'org_id'
  /** Set on org resources: the column naming the user who created the row (null once that account is deleted). */
  creatorColumn?: 'created_by'
  /** The path prefix under /api/v1, e.g. `/orgs/:org_id`; empty for user resources. */
  prefix: string
  /** The path parameters the prefix brings, for the routes' params schemas. */
  prefixParams: readonly string[]
  access?: Access
  /** The caller of `operation`, or a 404 (not a member) / 403 (role too low) for org resources. */
  callerOf(request: FastifyRequest, operation: Operation): Promise<Caller>
  /** Words for the docs: whose rows these are. */
  whose: string
}

const userScope: Scope = {
  kind: 'user',
  tenantColumn: 'owner_id',
  prefix: '',
  prefixParams: [],
  callerOf: async (request) => ({ tenantId: request.user.id, userId: request.user.id }),
  whose: 'your',
}

function orgScope(name: string, access: Access): Scope {
  return {
    kind: 'org',
    tenantColumn: 'org_id',
    creatorColumn: 'created_by',
    prefix: '/orgs/:org_id',
    prefixParams: ['org_id'],
    access,
    whose: "the org's",
    async callerOf(request, operation) {
      const orgId = (request.params as { org_id: number }).org_id
      // The role is resolved from the path's org on every request (cached, invalidated like users): never from a
      // token, so a role in one org is never applied to another.
      const role = await request.server.memberships.roleOf(orgId, request.user.id)
      if (role === undefined) throw orgNotFound()
      const caller = { tenantId: orgId, userId: request.user.id }
      const rule = access[operation]
      if (rule === 'creator') return isAtLeast(role, 'admin') ? caller : { ...caller, onlyCreatedBy: request.user.id }
      if (!isAtLeast(role, rule)) throw new ForbiddenError(`A ${role} cannot ${operation} ${name}: it takes ${rule} or above`)
      return caller
    },
  }
}

/** The scope a declaration asks for, with its access rules checked (unknown scope, operation or role: GrammarError). */
export function scopeOf(name: string, kind: unknown = 'user', access: Partial<Record<string, unknown>> | undefined = undefined): Scope {
  if (kind !== 'user' && kind !== 'org') throw new GrammarError(`unknown scope "${String(kind)}" (scopes: user, org)`)
  if (kind === 'user') {
    if (access !== undefined) throw new GrammarError('access rules apply to org resources only (a user resource is its owner\'s alone)')
    return userScope
  }
  return orgScope(name, parseAccess(access ?? {}))
}

/** `{ update: 'creator' }` over the defaults, every key and value checked. */
export function parseAccess(rules: Partial<Record<string, unknown>>): Access {
  const access = { ...DEFAULT_ORG_ACCESS }
  for (const [operation, rule] of Object.entries(rules)) {
    if (!(OPERATIONS as readonly string[]).includes(operation)) throw new GrammarError(`unknown operation "${operation}" in access (operations: ${OPERATIONS.join(', ')})`)
    const allowsCreator = operation === 'update' || operation === 'delete'
    if (!isRole(rule) && !(rule === 'creator' && allowsCreator)) {
      throw new GrammarError(`access ${operation}=${String(rule)}: use a role (owner, admin, member, viewer)${allowsCreator ? ' or creator' : ''}`)
    }
    access[operation as Operation] = rule as AccessRule
  }
  return access
}
