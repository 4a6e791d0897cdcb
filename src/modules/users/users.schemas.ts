import { Type, type Static } from 'typebox'
import { CursorQuerySchema, ListPageSchema } from '../../resources/pages.js'
import { PagingQuerySchema } from '../../shared/schemas.js'

const Email = Type.String({ format: 'email', minLength: 3, maxLength: 320, examples: ['ada@example.com'] })
const Password = Type.String({
  minLength: 8,
  maxLength: 72,
  description: '8 or more characters, at most 72 bytes in UTF-8 (bcrypt\'s limit)',
  examples: ['correct horse battery'],
})
const FullName = Type.Union([Type.String({ maxLength: 255 }), Type.Null()], { examples: ['Ada Lovelace'] })
const Timestamp = Type.String({ format: 'date-time', examples: ['2026-11-23T18:00:00.000Z'] })

const userExample = {
  id: 1,
  email: 'ada@example.com',
  full_name: 'Ada Lovelace',
  is_active: true,
  is_superuser: false,
  email_verified: false,
  created_at: '2026-11-23T18:00:00.000Z',
  updated_at: null,
}

export const UserSchema = Type.Object({
  id: Type.Integer({ examples: [1] }),
  email: Type.String({ format: 'email', examples: ['ada@example.com'] }),
  full_name: FullName,
  is_active: Type.Boolean({ description: 'A deactivated account cannot log in and its tokens stop working', examples: [true] }),
  is_superuser: Type.Boolean({ description: 'Superusers manage every account', examples: [false] }),
  email_verified: Type.Boolean({ description: 'True once the address was proven by a link sent to it', examples: [false] }),
  created_at: Timestamp,
  updated_at: Type.Union([Timestamp, Type.Null()], { description: 'Null until the first update' }),
}, { $id: 'User', title: 'User', examples: [userExample] })

export const UserCreateSchema = Type.Object({
  email: Email,
  password: Password,
  full_name: Type.Optional(FullName),
}, {
  additionalProperties: false,
  title: 'UserCreate',
  examples: [{ email: 'ada@example.com', password: 'correct horse battery', full_name: 'Ada Lovelace' }],
})

// No email: a new address takes effect only once confirmed (POST /users/me/email).
export const UserUpdateMeSchema = Type.Object({
  full_name: Type.Optional(FullName),
}, { additionalProperties: false, title: 'UserUpdateMe', examples: [{ full_name: 'Ada King' }] })

export const UserAdminUpdateSchema = Type.Object({
  email: Type.Optional(Email),
  full_name: Type.Optional(FullName),
  password: Type.Optional(Password),
  is_active: Type.Optional(Type.Boolean({ examples: [false] })),
  is_superuser: Type.Optional(Type.Boolean({ examples: [false] })),
}, { additionalProperties: false, title: 'UserAdminUpdate', examples: [{ is_active: false }] })

export const PasswordChangeSchema = Type.Object({
  current_password: Type.String({ minLength: 1, maxLength: 1024, examples: ['correct horse battery'] }),
  new_password: Password,
}, {
  additionalProperties: false,
  title: 'PasswordChange',
  examples: [{ current_password: 'correct horse battery', new_password: 'battery staple horse' }],
})

export const UsersListQuerySchema = Type.Object({ ...PagingQuerySchema, ...CursorQuerySchema }, { additionalProperties: false })

export const UsersPageSchema = ListPageSchema(Type.Ref('User'), 'User', userExample)

export type UserCreate = Static<typeof UserCreateSchema>
export type UserUpdateMe = Static<typeof UserUpdateMeSchema>
export type UserAdminUpdate = Static<typeof UserAdminUpdateSchema>
export type PasswordChange = Static<typeof PasswordChangeSchema>

/** Shared with account email: the same rules wherever an address or a new password is sent. */
export const EmailAddressSchema = Email
export const NewPasswordSchema = Password
