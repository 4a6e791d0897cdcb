import { Type, type Static } from 'typebox'
import { EmailAddressSchema, NewPasswordSchema } from '../users/users.schemas.js'

const Token = Type.String({
  minLength: 1,
  maxLength: 512,
  description: 'The `token` parameter of the link in the email',
  examples: ['q8Xk2n0vJ3Jd7F1bT5wzRk9mH4sYc6Lp0aGeVuNiBoQ'],
})

export const PasswordRecoverySchema = Type.Object({
  email: EmailAddressSchema,
}, { additionalProperties: false, title: 'PasswordRecovery', examples: [{ email: 'ada@example.com' }] })

export const PasswordResetSchema = Type.Object({
  token: Token,
  new_password: NewPasswordSchema,
}, {
  additionalProperties: false,
  title: 'PasswordReset',
  examples: [{ token: 'q8Xk2n0vJ3Jd7F1bT5wzRk9mH4sYc6Lp0aGeVuNiBoQ', new_password: 'battery staple horse' }],
})

export const EmailTokenSchema = Type.Object({ token: Token }, {
  additionalProperties: false, title: 'EmailToken', examples: [{ token: 'q8Xk2n0vJ3Jd7F1bT5wzRk9mH4sYc6Lp0aGeVuNiBoQ' }],
})

export const EmailChangeSchema = Type.Object({
  new_email: EmailAddressSchema,
  current_password: Type.String({ minLength: 1, maxLength: 1024, examples: ['correct horse battery'] }),
}, {
  additionalProperties: false,
  title: 'EmailChange',
  examples: [{ new_email: 'ada.king@example.com', current_password: 'correct horse battery' }],
})

/** The body of every 202: the same text whatever happened, so it reveals nothing. */
export const AcceptedSchema = Type.Object({
  detail: Type.String({ examples: ['If this address belongs to an active account, a message is on its way'] }),
}, {
  title: 'Accepted',
  description: 'Accepted; any mail is sent in the background',
  examples: [{ detail: 'If this address belongs to an active account, a message is on its way' }],
})

export type PasswordRecovery = Static<typeof PasswordRecoverySchema>
export type PasswordReset = Static<typeof PasswordResetSchema>
export type EmailToken = Static<typeof EmailTokenSchema>
export type EmailChange = Static<typeof EmailChangeSchema>
