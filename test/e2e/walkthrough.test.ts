import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { delimiter, dirname } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { repoRoot } from '../../scripts/openapi-document.js'
import { startServer, type RunningServer } from './server.js'

const DOCUMENTED_URL = 'http://127.0.0.1:8000'
const MARKER = '@@keel-walkthrough-step@@'
// Values a fresh run cannot reproduce: compared by type only.
const VOLATILE = new Set(['created_at', 'updated_at', 'access_token', 'refresh_token'])

interface Step {
  command: string
  /** The answer the markdown shows right after the command, when it shows one. */
  expected?: unknown
}

/** The ```sh blocks of the walk-through, each with the ```json answer that follows it. */
function parseSteps(markdown: string): Step[] {
  const steps: Step[] = []
  for (const [, lang, body] of markdown.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)) {
    if (lang === 'sh') steps.push({ command: body!.trimEnd() })
    else if (lang === 'json' && steps.length > 0 && steps.at(-1)!.expected === undefined) steps.at(-1)!.expected = JSON.parse(body!)
  }
  return steps
}

/** Same keys and values as documented, except volatile values, which only need the same type. */
function expectSameShape(actual: unknown, expected: unknown, path = '$'): void {
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual) && actual.length, path).toBe(expected.length)
    expected.forEach((e, i) => expectSameShape((actual as unknown[])[i], e, `${path}[${i}]`))
  } else if (expected !== null && typeof expected === 'object') {
    expect(actual, path).toBeTypeOf('object')
    expect(Object.keys(actual as object).sort(), path).toEqual(Object.keys(expected).sort())
    for (const [key, value] of Object.entries(expected)) {
      const got = (actual as Record<string, unknown>)[key]
      if (VOLATILE.has(key)) expect(got === null ? 'null' : typeof got, `${path}.${key}`).toBe(value === null ? 'null' : typeof value)
      else expectSameShape(got, value, `${path}.${key}`)
    }
  } else {
    expect(actual, path).toEqual(expected)
  }
}

/** Runs a bash script without blocking: the server answering curl lives in this same process. */
function runBash(script: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      env: { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` },
      timeout: 30_000,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
    child.on('error', reject)
    child.on('close', (status) => resolve({ status, stdout, stderr }))
  })
}

const available = (tool: string) => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0
const hasShellTools = available('bash') && available('curl')

// The README's "Using the API" section, up to the next heading of the same level.
const readme = readFileSync(`${repoRoot}/README.md`, 'utf8')
const markdown = readme.slice(readme.indexOf('## Using the API'), readme.indexOf('\n## ', readme.indexOf('## Using the API') + 3))
const steps = parseSteps(markdown)

let server: RunningServer
beforeAll(async () => { server = await startServer() })
afterAll(async () => server.close())

describe('README: Using the API', () => {
  it('walks through sign-up, login, create item, list items and an error, in that order', () => {
    const requests = steps.map(({ command }) => /curl -s '?http:\/\/127\.0\.0\.1:8000(\/[^\s'?]*)/.exec(command)?.[1])
    expect(requests).toEqual(['/api/v1/users', '/api/v1/auth/token', '/api/v1/items', '/api/v1/items', '/api/v1/items'])
    expect(steps.map((s) => s.expected !== undefined)).toEqual([true, false, true, true, true])
  })

  // Runs the commands as written, with bash and curl; only the port is the test server's.
  it.skipIf(!hasShellTools && process.env.CI !== 'true')('gives the documented answers when its commands run against Keel', async () => {
    const script = ['set -euo pipefail', ...steps.flatMap(({ command }) => [command, `printf '\\n${MARKER}\\n'`])]
      .join('\n')
      .replaceAll(DOCUMENTED_URL, server.baseUrl)
    const run = await runBash(script)
    expect(run.stderr).toBe('')
    expect(run.status).toBe(0)
    const outputs = run.stdout.split(`\n${MARKER}\n`).slice(0, steps.length)
    expect(outputs).toHaveLength(steps.length)
    steps.forEach((step, i) => {
      if (step.expected === undefined) expect(outputs[i], step.command).toBe('')
      else expectSameShape(JSON.parse(outputs[i]!), step.expected, `step ${i + 1}`)
    })
  })
})
