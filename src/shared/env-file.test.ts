import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { loadEnvFile } from './env-file.js'

describe('loadEnvFile', () => {
  afterEach(() => {
    delete process.env.KEEL_TEST_FROM_FILE
    delete process.env.KEEL_TEST_ALREADY_SET
  })

  it('loads variables from the file without overriding the environment, and ignores a missing file', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'keel-env-')), '.env')
    writeFileSync(file, 'KEEL_TEST_FROM_FILE=from-file\nKEEL_TEST_ALREADY_SET=from-file\n')
    process.env.KEEL_TEST_ALREADY_SET = 'from-env'
    loadEnvFile(file)
    expect(process.env.KEEL_TEST_FROM_FILE).toBe('from-file')
    expect(process.env.KEEL_TEST_ALREADY_SET).toBe('from-env')
    expect(() => loadEnvFile(join(tmpdir(), 'does-not-exist.env'))).not.toThrow()
  })
})
