import type { FastifySchemaCompiler } from 'fastify'
import { Ajv, type Options } from 'ajv'
import addFormatsModule from 'ajv-formats'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

const common: Options = {
  removeAdditional: false, // unknown fields are a 422, never silently stripped
  useDefaults: true,
  strict: false,
}

// Listing every error of a body with 100,000 unknown keys costs a second of CPU: only small bodies get the full list.
const MAX_VALUES_FOR_ALL_ERRORS = 200

function countValues(value: unknown, limit: number): number {
  let seen = 0
  const stack = [value]
  while (stack.length && seen <= limit) {
    const v = stack.pop()
    seen++
    if (v && typeof v === 'object') stack.push(...Object.values(v).slice(0, limit))
  }
  return seen
}

type Validate = ((data: unknown) => boolean) & { errors?: unknown[] | null }

/**
 * Fails fast; when the data is small enough, asks the all-errors validator for the whole list.
 * That one is compiled on the first invalid request, not at start-up (compiling is most of ready()).
 */
function failFastThenList(fast: Validate, compileFull: () => Validate): Validate {
  let full: Validate | undefined
  const validate: Validate = (data) => {
    if (fast(data)) return true
    if (countValues(data, MAX_VALUES_FOR_ALL_ERRORS) <= MAX_VALUES_FOR_ALL_ERRORS) {
      full ??= compileFull()
      if (!full(data)) {
        validate.errors = full.errors
        return false
      }
    }
    validate.errors = fast.errors
    return false
  }
  return validate
}

/**
 * Fastify `schemaController.compilersFactory.buildValidator`: strict JSON bodies (nothing coerced, a wrong
 * type is a 422) and coerced query/path parameters, which arrive as text. A factory rather than
 * `setValidatorCompiler`, because Fastify rebuilds the compiler for every context that adds a schema.
 */
export function buildValidator(externalSchemas: Record<string, unknown> = {}): FastifySchemaCompiler<unknown> {
  const ajv = sharedAjv()
  for (const schema of Object.values(externalSchemas)) {
    const id = (schema as { $id?: string }).$id
    for (const instance of [ajv.body.fast, ajv.body.full, ajv.text.fast, ajv.text.full]) {
      if (!id || !instance.getSchema(id)) instance.addSchema(schema as object)
    }
  }
  return ({ schema, httpPart }) => {
    const pair = httpPart === 'body' ? ajv.body : ajv.text
    return failFastThenList(pair.fast.compile(schema as object), () => pair.full.compile(schema as object)) as ReturnType<FastifySchemaCompiler<unknown>>
  }
}

type AjvSet = Record<'body' | 'text', { fast: Ajv; full: Ajv }>
let ajvSet: AjvSet | undefined

/**
 * Ajv instances are shared by every Fastify context and app: creating one (meta-schemas, formats) costs
 * tens of milliseconds, and Fastify asks for a validator per context that adds a schema. Shared schemas
 * ($id: Problem, User, Item) are added once.
 */
function sharedAjv(): AjvSet {
  const ajv = (options: Options) => addFormats(new Ajv({ ...common, ...options }))
  return (ajvSet ??= {
    body: { fast: ajv({ coerceTypes: false }), full: ajv({ coerceTypes: false, allErrors: true }) },
    text: { fast: ajv({ coerceTypes: true }), full: ajv({ coerceTypes: true, allErrors: true }) },
  })
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
