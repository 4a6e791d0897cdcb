import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string
    /** Where test apps write the statuses they answered (test/helpers/response-log.ts). */
    responseLog: string
  }
}

/**
 * initdb in PGlite takes seconds; it runs once here and every test file loads a copy of the
 * empty cluster (under a second), so each file still gets its own fresh database.
 */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'keel-test-'))
  const file = join(dir, 'template.tar')
  const pglite = await PGlite.create()
  const dump = await pglite.dumpDataDir('none')
  await pglite.close()
  writeFileSync(file, Buffer.from(await dump.arrayBuffer()))
  project.provide('pgliteTemplate', file)
  const responseLog = join(dir, 'responses')
  mkdirSync(responseLog)
  project.provide('responseLog', responseLog)
  return async () => {
    try {
      await checkObservedStatuses(responseLog)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/**
 * The contract test of SPEC §2 / issue 10: every status the suite saw an operation answer must be declared for
 * that operation in the OpenAPI document. Runs once, after every test file, over what all of them observed.
 */
async function checkObservedStatuses(responseLog: string): Promise<void> {
  if (readdirSync(responseLog).length === 0) return // a run of a few files that built no app
  const { buildOpenApiDocument } = await import('../../scripts/openapi-document.js')
  const { undeclaredStatuses } = await import('./response-log.js')
  const { checked, undeclared } = undeclaredStatuses(responseLog, await buildOpenApiDocument())
  if (undeclared.length) {
    // Vitest reports an error thrown here but still exits 0: fail the run explicitly.
    console.error(`OpenAPI contract FAILED: the suite saw answers the document does not declare (${undeclared.length} of ${checked} operation/status pairs):\n  ${undeclared.join('\n  ')}`)
    process.exitCode = 1
    return
  }
  console.info(`OpenAPI contract: all ${checked} operation/status pairs the suite observed are declared`)
}
