/** Roles in an organization, highest first (SPEC §8). */
export const ROLES = ['owner', 'admin', 'member', 'viewer'] as const
export type Role = (typeof ROLES)[number]

const rank: Record<Role, number> = { owner: 3, admin: 2, member: 1, viewer: 0 }

/** Whether `role` is `minimum` or above it. */
export const isAtLeast = (role: Role, minimum: Role): boolean => rank[role] >= rank[minimum]

export const isRole = (value: unknown): value is Role => typeof value === 'string' && (ROLES as readonly string[]).includes(value)
