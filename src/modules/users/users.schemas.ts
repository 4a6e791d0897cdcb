import { Type, type Static } from 'typebox'
import { PageSchema, PagingQuerySchema } from '../../shared/schemas.js'

const Email = Type.String({ format: 'email', minLength: 3, maxLength: 320, examples: ['ada@example.com'] })
const Password = Type.String({
  minLength: 8,
  maxLength: 72,
  description: '8 or more characters, at most 72 bytes in UTF-8 (bcrypt\'s limit)',
  examples: ['correct horse battery'],
})
const FullName = Type.Union([Type.String({ maxLength: 255 }), Type.Null()], { examples: ['Ada Lovelace'] })
const Timestamp = Type.String({ format: 'date-time', examples: ['2026-11-23T18:00:00.000Z'] })

export const UserSchema = Type.Object({
  id: Type.Integer({ examples: [1] }),
  email: Type.String({ format: 'email', examples: ['ada@example.com'] }),
  full_name: FullName,
  is_active: Type.Boolean(),
  is_superuser: Type.Boolean(),
  created_at: Timestamp,
  updated_at: Type.Union([Timestamp, Type.Null()], { description: 'Null until the first update' }),
}, { $id: 'User', title: 'User' })

export const UserCreateSchema = Type.Object({
  email: Email,
  password: Password,
  full_name: Type.Optional(FullName),
}, { additionalProperties: false, title: 'UserCreate' })

export const UserUpdateMeSchema = Type.Object({
  email: Type.Optional(Email),
  full_name: Type.Optional(FullName),
}, { additionalProperties: false, title: 'UserUpdateMe' })

export const UserAdminUpdateSchema = Type.Object({
  email: Type.Optional(Email),
  full_name: Type.Optional(FullName),
  password: Type.Optional(Password),
  is_active: Type.Optional(Type.Boolean()),
  is_superuser: Type.Optional(Type.Boolean()),
}, { additionalProperties: false, title: 'UserAdminUpdate' })

export const PasswordChangeSchema = Type.Object({
  current_password: Type.String({ minLength: 1, maxLength: 1024 }),
  new_password: Password,
}, { additionalProperties: false, title: 'PasswordChange' })

export const UsersListQuerySchema = Type.Object(PagingQuerySchema, { additionalProperties: false })

export const UsersPageSchema = PageSchema(Type.Ref('User'), 'User')

export type UserCreate = Static<typeof UserCreateSchema>
export type UserUpdateMe = Static<typeof UserUpdateMeSchema>
export type UserAdminUpdate = Static<typeof UserAdminUpdateSchema>
export type PasswordChange = Static<typeof PasswordChangeSchema>
