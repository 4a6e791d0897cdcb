import { Type, type Static } from 'typebox'
import { IdParamsSchema, PageSchema, PagingQuerySchema } from '../../shared/schemas.js'
import { EmailAddressSchema } from '../users/users.schemas.js'
import { ROLES } from './roles.js'

const Timestamp = Type.String({ format: 'date-time', examples: ['2026-11-23T18:00:00.000Z'] })
const Id = IdParamsSchema.properties.id

export const RoleSchema = Type.Unsafe<(typeof ROLES)[number]>({
  type: 'string', enum: [...ROLES], description: 'owner > admin > member > viewer', examples: ['member'],
})
// No control characters: the name goes into mail subjects and front ends.
const Name = Type.String({ minLength: 1, maxLength: 100, pattern: '^[^\\x00-\\x1f\\x7f]*$', description: '1–100 characters, no control characters', examples: ['Acme Robotics'] })
export const SLUG_PATTERN = '^[a-z0-9-]{3,40}$'
const Slug = Type.String({
  pattern: SLUG_PATTERN, minLength: 3, maxLength: 40,
  description: 'Unique across Keel: 3–40 characters of a-z, 0-9 and -', examples: ['acme-robotics'],
})

const orgExample = { id: 1, name: 'Acme Robotics', slug: 'acme-robotics', role: 'owner', created_at: '2026-11-23T18:00:00.000Z', updated_at: null }
const memberExample = { user_id: 2, email: 'grace@example.com', full_name: 'Grace Hopper', role: 'member', created_at: '2026-11-23T18:00:00.000Z' }
const invitationExample = {
  id: 1, org_id: 1, email: 'grace@example.com', role: 'member', invited_by: 1,
  created_at: '2026-11-23T18:00:00.000Z', expires_at: '2026-11-30T18:00:00.000Z',
}

export const OrgSchema = Type.Object({
  id: Type.Integer({ examples: [1] }),
  name: Name,
  slug: Slug,
  role: Type.Unsafe<(typeof ROLES)[number]>({ ...RoleSchema, description: 'Your role in this organization', examples: ['owner'] }),
  created_at: Timestamp,
  updated_at: Type.Union([Timestamp, Type.Null()], { description: 'Null until the first update' }),
}, { $id: 'Org', title: 'Org', examples: [orgExample] })

export const OrgCreateSchema = Type.Object({
  name: Name,
  slug: Type.Optional(Slug),
}, { additionalProperties: false, title: 'OrgCreate', examples: [{ name: 'Acme Robotics' }, { name: 'Acme Robotics', slug: 'acme' }] })

export const OrgUpdateSchema = Type.Object({
  name: Type.Optional(Name),
  slug: Type.Optional(Slug),
}, { additionalProperties: false, title: 'OrgUpdate', examples: [{ name: 'Acme Robotics Ltd' }] })

export const MemberSchema = Type.Object({
  user_id: Type.Integer({ examples: [2] }),
  email: Type.String({ format: 'email', examples: ['grace@example.com'] }),
  full_name: Type.Union([Type.String(), Type.Null()], { examples: ['Grace Hopper'] }),
  role: RoleSchema,
  created_at: Type.String({ format: 'date-time', description: 'When the user joined', examples: ['2026-11-23T18:00:00.000Z'] }),
}, { $id: 'Member', title: 'Member', examples: [memberExample] })

export const MemberUpdateSchema = Type.Object({ role: RoleSchema }, { additionalProperties: false, title: 'MemberUpdate', examples: [{ role: 'admin' }] })

export const InvitationSchema = Type.Object({
  id: Type.Integer({ examples: [1] }),
  org_id: Type.Integer({ examples: [1] }),
  email: Type.String({ format: 'email', description: 'Lower-cased', examples: ['grace@example.com'] }),
  role: RoleSchema,
  invited_by: Type.Union([Type.Integer(), Type.Null()], { description: 'Who invited (null once that account is deleted)', examples: [1] }),
  created_at: Timestamp,
  expires_at: Type.String({ format: 'date-time', description: '7 days after the invitation was sent', examples: ['2026-11-30T18:00:00.000Z'] }),
}, { $id: 'Invitation', title: 'Invitation', examples: [invitationExample] })

export const InvitationCreateSchema = Type.Object({
  email: EmailAddressSchema,
  role: RoleSchema,
}, { additionalProperties: false, title: 'InvitationCreate', examples: [{ email: 'grace@example.com', role: 'member' }] })

export const InvitationAcceptSchema = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 256, description: 'The token from the invitation link', examples: ['q1f0c6tq8n2YwqkE1mWcW9xkqzj0s3Xb4X7sA5mZJ9Q'] }),
}, { additionalProperties: false, title: 'InvitationAccept', examples: [{ token: 'q3Y8rW0H9pXb2sZk1vN4mC7tL5aE6dJfGhUiOyTwRxQ' }] })

export const OrgParamsSchema = Type.Object({ org_id: Id }, { additionalProperties: false })
export const MemberParamsSchema = Type.Object({ org_id: Id, user_id: Id }, { additionalProperties: false })
export const InvitationParamsSchema = Type.Object({ org_id: Id, id: Id }, { additionalProperties: false })
export const PagingSchema = Type.Object(PagingQuerySchema, { additionalProperties: false })

export const OrgsPageSchema = PageSchema(Type.Ref('Org'), 'Org', orgExample)
export const MembersPageSchema = PageSchema(Type.Ref('Member'), 'Member', memberExample)
export const InvitationsPageSchema = PageSchema(Type.Ref('Invitation'), 'Invitation', invitationExample)

export type OrgCreate = Static<typeof OrgCreateSchema>
export type OrgUpdate = Static<typeof OrgUpdateSchema>
export type InvitationCreate = Static<typeof InvitationCreateSchema>
