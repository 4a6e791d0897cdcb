import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'

const dataDir = mkdtempSync(join(tmpdir(), 'keel-cli-'))
afterAll(() => rmSync(dataDir, { recursive: true, force: true }))

/** Runs the CLI as `npm run db:*` does, on an embedded database in `dataDir` (an empty DATABASE_URL also overrides a `.env`). */
const cli = (...args: string[]) => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/db/cli.ts', ...args], {
    env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: '', NODE_ENV: 'development' },
    encoding: 'utf8',
    timeout: 60_000,
  })
  return { code: run.status, stdout: run.stdout, stderr: run.stderr }
}

const allApplied = ['[x] 0001 init', '[x] 0002 user-change-notify', '[x] 0003 refresh-token-family-index']

describe('src/db/cli.ts on an embedded database', () => {
  it('migrate, status, rollback 2, status, migrate: exit 0 and say what they did', { timeout: 180_000 }, () => {
    expect(cli('migrate')).toMatchObject({ code: 0, stdout: 'applied: 1, 2, 3\n' })
    expect(cli('status')).toMatchObject({ code: 0, stdout: `${allApplied.join('\n')}\n` })
    expect(cli('rollback', '2')).toMatchObject({ code: 0, stdout: 'rolled back: 3, 2\n' })
    expect(cli('status')).toMatchObject({ code: 0, stdout: '[x] 0001 init\n[ ] 0002 user-change-notify\n[ ] 0003 refresh-token-family-index\n' })
    expect(cli('migrate')).toMatchObject({ code: 0, stdout: 'applied: 2, 3\n' })
  })
})
