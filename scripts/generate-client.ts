import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, relative } from 'node:path'
import { buildOpenApiDocument, clientTypesPath, generateClientTypes, repoRoot } from './openapi-document.js'

/**
 * `npm run client:generate` writes src/client/schema.d.ts from the app's OpenAPI document (built in-process,
 * no server). `-- --check` writes nothing and fails when the committed file is not what it would write.
 */
const check = process.argv.includes('--check')
const types = await generateClientTypes(await buildOpenApiDocument())
const target = relative(repoRoot, clientTypesPath)

if (check) {
  let committed = ''
  try {
    committed = readFileSync(clientTypesPath, 'utf8')
  } catch {
    // A missing file is simply out of date.
  }
  if (committed !== types) {
    console.error(`${target} is out of date with the OpenAPI document: run \`npm run client:generate\` and commit it.`)
    process.exit(1)
  }
  console.log(`${target} is up to date.`)
} else {
  mkdirSync(dirname(clientTypesPath), { recursive: true })
  writeFileSync(clientTypesPath, types)
  console.log(`Wrote ${target}.`)
}
