import type { FastifySchemaCompiler } from 'fastify'
import { Ajv, type Options } from 'ajv'
import addFormatsModule from 'ajv-formats'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

const common: Options = {
  removeAdditional: false, // unknown fields are a 422, never silently stripped
  useDefaults: true,
  allErrors: true,
  strict: false,
}

/**
 * Fastify `schemaController.compilersFactory.buildValidator`: strict JSON bodies (nothing coerced, a wrong
 * type is a 422) and coerced query/path parameters, which arrive as text. A factory rather than
 * `setValidatorCompiler`, because Fastify rebuilds the compiler for every context that adds a schema.
 */
export function buildValidator(externalSchemas: Record<string, unknown> = {}): FastifySchemaCompiler<unknown> {
  const bodyAjv = addFormats(new Ajv({ ...common, coerceTypes: false }))
  const textAjv = addFormats(new Ajv({ ...common, coerceTypes: true }))
  for (const schema of Object.values(externalSchemas)) {
    bodyAjv.addSchema(schema as object)
    textAjv.addSchema(schema as object)
  }
  return ({ schema, httpPart }) =>
    (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>
}

const DECIMAL_ID = /^[1-9][0-9]*$/

/**
 * Ajv's coercion turns '1e3', '0x10' or ' 7' into integers; an id in a path must be plain decimal digits.
 * Checked before validation for every `:id` parameter, so those get the same 422 as 'abc'.
 */
export function assertDecimalIdParam(params: unknown): void {
  const id = (params as { id?: unknown } | undefined)?.id
  if (typeof id === 'string' && !DECIMAL_ID.test(id)) {
    throw Object.assign(new Error('params/id must be a positive decimal integer'), {
      validation: [{ instancePath: '/id', keyword: 'pattern', params: {}, message: 'must be a positive decimal integer' }],
      validationContext: 'params',
    })
  }
}
