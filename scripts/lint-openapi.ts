import { buildOpenApiDocument, lintOpenApiDocument } from './openapi-document.js'

/** `npm run docs:lint`: the app's OpenAPI document, built in-process, linted with redocly.yaml. */
const result = lintOpenApiDocument(await buildOpenApiDocument())
if (result.errors + result.warnings > 0) {
  console.error(result.output)
  process.exit(1)
}
console.log('OpenAPI document: redocly lint (redocly.yaml) reports no errors and no warnings.')
