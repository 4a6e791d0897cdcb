import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
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

// What is in migrations/ (NNNN.do.name.sql), so adding a resource's migration does not break this test.
const migrations = readdirSync('migrations').filter((f) => /^\d+\.do\..+\.sql$/.test(f)).sort()
  .map((f) => { const [version, , name] = f.split('.'); return { version: Number(version), label: `${version} ${name}` } })
const status = (applied: number) => migrations.map((m, i) => `[${i < applied ? 'x' : ' '}] ${m.label}\n`).join('')
const versions = (list: typeof migrations) => list.map((m) => m.version).join(', ')

describe('src/db/cli.ts on an embedded database', () => {
  it('migrate, status, rollback 2, status, migrate: exit 0 and say what they did', { timeout: 180_000 }, () => {
    expect(migrations.length).toBeGreaterThanOrEqual(3)
    expect(cli('migrate')).toMatchObject({ code: 0, stdout: `applied: ${versions(migrations)}\n` })
    expect(cli('status')).toMatchObject({ code: 0, stdout: status(migrations.length) })
    expect(cli('rollback', '2')).toMatchObject({ code: 0, stdout: `rolled back: ${versions(migrations.slice(-2).reverse())}\n` })
    expect(cli('status')).toMatchObject({ code: 0, stdout: status(migrations.length - 2) })
    expect(cli('migrate')).toMatchObject({ code: 0, stdout: `applied: ${versions(migrations.slice(-2))}\n` })
  })
})
