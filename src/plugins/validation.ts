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

// Bodies are JSON: a wrong type is the client's mistake (422), so nothing is coerced.
const bodyAjv = addFormats(new Ajv({ ...common, coerceTypes: false }))
// Query strings, params and headers arrive as text: scalars are coerced, repeated keys are not.
const textAjv = addFormats(new Ajv({ ...common, coerceTypes: true }))

/** Fastify validator compiler: strict JSON bodies, coerced query/path parameters. */
export const validatorCompiler: FastifySchemaCompiler<unknown> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? bodyAjv : textAjv).compile(schema as object) as ReturnType<FastifySchemaCompiler<unknown>>
