/** A message before it has a recipient: subject, plain text and HTML. */
export interface MailContent {
  subject: string
  text: string
  html: string
}

interface Product {
  appName: string
}

const escapeHtml = (value: string) =>
  value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;')

/** Paragraphs → text and HTML; `link` (if any) becomes a button-like anchor in HTML and a bare line in text. */
function compose(subject: string, paragraphs: string[], link?: { url: string; label: string }, after: string[] = []): MailContent {
  const text = [...paragraphs, ...(link ? [link.url] : []), ...after].join('\n\n')
  const p = (s: string) => `<p>${escapeHtml(s)}</p>`
  const html = [
    '<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">',
    ...paragraphs.map(p),
    ...(link ? [`<p><a href="${escapeHtml(link.url)}">${escapeHtml(link.label)}</a></p>`, p(`Or paste this address into your browser: ${link.url}`)] : []),
    ...after.map(p),
    '</body></html>',
  ].join('\n')
  return { subject, text: `${text}\n`, html }
}

const NOT_YOU = 'If you did not ask for this, ignore this message: nothing changes until the link is used.'

const lifetime = (minutes: number) => (minutes % 60 === 0 ? `${minutes / 60} hour${minutes === 60 ? '' : 's'}` : `${minutes} minutes`)

export function passwordResetMail({ appName }: Product, url: string, ttlMinutes: number): MailContent {
  return compose(`Reset your ${appName} password`, [
    `Someone (hopefully you) asked to reset the password of your ${appName} account.`,
    `Choose a new password with the link below. It works once, within ${lifetime(ttlMinutes)}.`,
  ], { url, label: 'Choose a new password' }, [NOT_YOU])
}

export function passwordChangedMail({ appName }: Product): MailContent {
  return compose(`Your ${appName} password was changed`, [
    `The password of your ${appName} account was just reset, and every session was signed out.`,
    `If this was not you, reset your password again at once (use "forgot password") and contact support.`,
  ])
}

export function verifyEmailMail({ appName }: Product, url: string, ttlMinutes: number): MailContent {
  return compose(`Confirm your email for ${appName}`, [
    `Welcome to ${appName}. Confirm that this address is yours with the link below (valid for ${lifetime(ttlMinutes)}).`,
  ], { url, label: 'Confirm my email' }, ['If you did not create an account, ignore this message.'])
}

export function emailChangeMail({ appName }: Product, url: string, ttlMinutes: number): MailContent {
  return compose(`Confirm your new email for ${appName}`, [
    `Someone (hopefully you) asked to use this address for a ${appName} account.`,
    `Confirm with the link below (valid for ${lifetime(ttlMinutes)}); the account keeps its old address until then.`,
  ], { url, label: 'Use this address' }, [NOT_YOU])
}

export function emailChangeNoticeMail({ appName }: Product, newEmail: string): MailContent {
  return compose(`Your ${appName} email is about to change`, [
    `Someone asked to move your ${appName} account to ${newEmail}. It changes only once that address confirms.`,
    'If this was not you, change your password now: whoever asked knows it.',
  ])
}

export function invitationMail({ appName }: Product, invite: { orgName: string; inviter: string; role: string }, url: string, ttlDays: number): MailContent {
  return compose(`${invite.inviter} invited you to ${invite.orgName} on ${appName}`, [
    `${invite.inviter} invited you to join the organization "${invite.orgName}" on ${appName} as ${invite.role === 'admin' || invite.role === 'owner' ? 'an' : 'a'} ${invite.role}.`,
    `Accept with the link below, signed in with this address (sign up with it first if you have no account). It works once, within ${ttlDays} days.`,
  ], { url, label: 'Accept the invitation' }, ['If you did not expect this, ignore this message: nothing happens unless the link is used.'])
}
