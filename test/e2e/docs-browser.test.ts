import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { chromium, type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../../scripts/openapi-document.js'
import { createUser, type TestUser } from '../helpers/factories.js'
import { startServer, type RunningServer } from './server.js'

const CHROMIUM = '/usr/bin/chromium'
// Debian's package, never a downloaded browser; the flags keep it off the network and the GPU.
const CHROMIUM_FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run',
]
const SCREENSHOT = join(repoRoot, 'test-results/docs.png')

// Outside CI a machine without Chromium skips this file; in CI a missing browser is a failure.
const runs = existsSync(CHROMIUM) || process.env.CI === 'true'

let server: RunningServer
let browser: Browser | undefined
let user: TestUser
beforeAll(async () => {
  server = await startServer()
  user = await createUser(server.app)
  if (runs) browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_FLAGS })
})
afterAll(async () => {
  await browser?.close()
  await server.close()
})

describe('GET /docs in headless Chromium', () => {
  it.skipIf(!runs)('authorizes with email and password, runs "List your items" and shows the 200', { timeout: 60_000 }, async () => {
    const page = await browser!.newPage({ viewport: { width: 1280, height: 900 } })
    const problems: string[] = []
    page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()) })
    page.on('pageerror', (error) => problems.push(error.message))
    page.on('requestfailed', (request) => problems.push(`${request.url()}: ${request.failure()?.errorText}`))

    await page.goto(`${server.baseUrl}/docs`)
    await page.getByRole('button', { name: 'Authorize' }).first().click()

    // The OAuth2 password flow: username is the email.
    const dialog = page.locator('.modal-ux')
    await dialog.locator('#oauth_username').fill(user.email)
    await dialog.locator('#oauth_password').fill(user.password)
    const [tokenAnswer] = await Promise.all([
      page.waitForResponse((response) => new URL(response.url()).pathname === '/api/v1/auth/token'),
      dialog.getByRole('button', { name: 'Apply given OAuth2 credentials' }).click(),
    ])
    expect(tokenAnswer.status()).toBe(200)
    await expect.poll(() => dialog.getByRole('button', { name: 'Remove authorization' }).count()).toBeGreaterThan(0)
    await dialog.getByRole('button', { name: 'Close' }).first().click()

    const operation = page.locator('#operations-items-listItems')
    await operation.locator('.opblock-summary').first().click()
    const tryItOut = operation.getByRole('button', { name: 'Try it out' })
    if (await tryItOut.count()) await tryItOut.click()
    const [answer] = await Promise.all([
      page.waitForResponse((response) => new URL(response.url()).pathname === '/api/v1/items'),
      operation.getByRole('button', { name: 'Execute' }).click(),
    ])
    expect(answer.status()).toBe(200)
    expect(await answer.request().headerValue('authorization')).toMatch(/^Bearer /)

    const status = operation.locator('.live-responses-table tr.response .response-col_status').first()
    await expect.poll(() => status.textContent()).toContain('200')
    await expect.poll(() => operation.locator('.live-responses-table tr.response .response-col_description').first().textContent())
      .toContain('"total": 0')

    // From the operation's header (its lock shows the authorization) down to the live answer.
    mkdirSync(join(repoRoot, 'test-results'), { recursive: true })
    const scrollY = await page.evaluate<number>('window.scrollY')
    const top = (await operation.boundingBox())!
    const bottom = (await operation.locator('.live-responses-table').boundingBox())!
    const clip = { x: 0, y: scrollY + top.y - 8, width: 1280, height: bottom.y + bottom.height - top.y + 16 }
    await page.screenshot({ path: SCREENSHOT, fullPage: true, clip })
    expect(problems).toEqual([])
  })
})
