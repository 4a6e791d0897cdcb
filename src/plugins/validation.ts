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
 * Fails fast; when the data is small enough, asks the all-errors validator for the whole list. Both are compiled
 * when first needed (the fast one on the route's first request, the full one on its first invalid one), not at
 * start-up: compiling every route's validators was most of ready(). The tests send every route a request, so a
 * schema Ajv cannot compile still fails the build.
 */
function failFastThenList(compileFast: () => Validate, compileFull: () => Validate): Validate {
  const fast = compileOnce(compileFast)
  const full = compileOnce(compileFull)
  const validate: Validate = (data) => {
    if (fast()(data)) return true
    if (countValues(data, MAX_VALUES_FOR_ALL_ERRORS) <= MAX_VALUES_FOR_ALL_ERRORS) {
      if (!full()(data)) {
        validate.errors = full().errors
        return false
      }
    }
    validate.errors = fast().errors
    return false
  }
  return validate
}

/** Compiles on first use and keeps the outcome: a schema that fails to compile throws the same error each time, without compiling again. */
export function compileOnce<T>(compile: () => T): () => T {
  let outcome: { value: T } | { error: unknown } | undefined
  return () => {
    if (!outcome) {
      try {
        outcome = { value: compile() }
      } catch (error) {
        outcome = { error }
      }
    }
    if ('error' in outcome) throw outcome.error
    return outcome.value
  }
}

/**
 * Fastify `schemaController.compilersFactory.buildValidator`: strict JSON bodies (nothing coerced, a wrong
 * type is a 422) and coerced query/path parameters, which arrive as text. A factory rather than
 * `setValidatorCompiler`, because Fastify rebuilds the compiler for every context that adds a schema.
 */
export function buildValidator(externalSchemas: Record<string, unknown> = {}): FastifySchemaCompiler<unknown> {
  const ajv = sharedAjv()
  for (const schema of Object.values(externalSchemas)) {
    for (const instance of [ajv.body.fast, ajv.body.full, ajv.text.fast, ajv.text.full]) instance.add(schema as SharedSchema)
  }
  return ({ schema, httpPart }) => {
    const pair = httpPart === 'body' ? ajv.body : ajv.text
    return failFastThenList(() => pair.fast.get().compile(schema as object), () => pair.full.get().compile(schema as object)) as ReturnType<FastifySchemaCompiler<unknown>>
  }
}

type SharedSchema = object & { $id?: string }

/** An Ajv created on first use (meta-schemas and formats cost tens of milliseconds), with every shared schema. */
function lazyAjv(options: Options) {
  let instance: Ajv | undefined
  const schemas = new Map<string, SharedSchema>()
  return {
    add(schema: SharedSchema): void {
      if (!schema.$id || schemas.has(schema.$id)) return
      schemas.set(schema.$id, schema)
      instance?.addSchema(schema)
    },
    get(): Ajv {
      if (!instance) {
        instance = addFormats(new Ajv({ ...common, ...options }))
        for (const schema of schemas.values()) instance.addSchema(schema)
      }
      return instance
    },
  }
}

type AjvSet = Record<'body' | 'text', Record<'fast' | 'full', ReturnType<typeof lazyAjv>>>
let ajvSet: AjvSet | undefined

/**
 * Ajv instances are shared by every Fastify context and app: Fastify asks for a validator per context that adds
 * a schema. Shared schemas ($id: Problem, User, Item) are added once.
 */
function sharedAjv(): AjvSet {
  return (ajvSet ??= {
    body: { fast: lazyAjv({ coerceTypes: false }), full: lazyAjv({ coerceTypes: false, allErrors: true }) },
    text: { fast: lazyAjv({ coerceTypes: true }), full: lazyAjv({ coerceTypes: true, allErrors: true }) },
  })
}

const DECIMAL_ID = /^[1-9][0-9]*$/

/** `id`, or a reference named after what it points to: a parent's `project_id`, an org route's `org_id`, `user_id`. */
const isIdName = (name: string) => name === 'id' || name.endsWith('_id')

/**
 * Ajv's coercion turns '1e3', '0x10', '2.0' or ' 7' into integers; an id in a path must be plain decimal digits.
 * Checked before validation for every path parameter named `id` or ending in `_id`, whichever route declares it
 * (nested routes, org routes), so those get the same 422 as 'abc' by one rule.
 */
export function assertDecimalIdParam(params: unknown): void {
  if (!params || typeof params !== 'object') return
  // for…in, not Object.entries: this runs on every request, and most have one parameter or none.
  for (const name in params) {
    const value = (params as Record<string, unknown>)[name]
    if (!isIdName(name) || typeof value !== 'string' || DECIMAL_ID.test(value)) continue
    throw Object.assign(new Error(`params/${name} must be a positive decimal integer`), {
      validation: [{ instancePath: `/${name}`, keyword: 'pattern', params: {}, message: 'must be a positive decimal integer' }],
      validationContext: 'params',
    })
  }
}
