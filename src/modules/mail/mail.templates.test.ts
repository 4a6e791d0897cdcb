import { describe, expect, it } from 'vitest'
import { createAccountMails } from '../account-email/account-email.mails.js'

const mails = createAccountMails({ appUrl: 'https://app.example', appName: 'Acme <Tools> & "Co"' })

describe('mail templates', () => {
  it('every message has a subject, a text part and an HTML part naming the product', () => {
    const all = [
      mails.passwordReset('a@example.com', 'TOKEN'), mails.passwordChanged('a@example.com'), mails.verifyEmail('a@example.com', 'TOKEN'),
      mails.emailChange('new@example.com', 'TOKEN'), mails.emailChangeNotice('old@example.com', 'new@example.com'),
    ]
    for (const mail of all) {
      expect(mail.subject).toContain('Acme <Tools> & "Co"')
      expect(mail.text).toContain('Acme <Tools> & "Co"')
      expect(mail.html).toContain('Acme &lt;Tools&gt; &amp; &quot;Co&quot;')
      expect(mail.html).not.toContain('<Tools>')
    }
  })

  it('links come from APP_URL with the token, lifetimes in words, and say what to do if it was not you', () => {
    const reset = mails.passwordReset('a@example.com', 'abc_DEF-123')
    expect(reset.text).toContain('https://app.example/reset-password?token=abc_DEF-123')
    expect(reset.html).toContain('href="https://app.example/reset-password?token=abc_DEF-123"')
    expect(reset.text).toContain('within 30 minutes')
    expect(reset.text).toContain('If you did not ask for this')
    expect(mails.verifyEmail('a@example.com', 't').text).toContain('https://app.example/verify-email?token=t')
    expect(mails.emailChange('n@example.com', 't').text).toMatch(/confirm-email-change\?token=t[\s\S]*valid for 24 hours|valid for 24 hours[\s\S]*confirm-email-change\?token=t/)
    expect(mails.emailChangeNotice('o@example.com', 'n@example.com').text).toContain('If this was not you, change your password')
    expect(mails.passwordChanged('a@example.com').text).toContain('If this was not you')
  })
})
