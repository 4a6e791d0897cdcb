import { boolean, date, integer, jsonb, numeric, text, timestamp, varchar, type PgColumnBuilderBase } from 'drizzle-orm/pg-core'
import { Type, type TSchema } from 'typebox'

/** A field as the grammar `name:type[?][=default][:flag...]` describes it (see grammar.ts). */
export interface Field {
  /** The JSON property and the column: snake_case; a ref's name ends in `_id`. */
  name: string
  type: TypeName
  /** string{N}: at most N code points (255 unless given). */
  length?: number
  /** decimal{P,S}. */
  precision?: number
  scale?: number
  /** enum{a|b|c}. */
  values?: string[]
  /** ref{resource[,cascade|set-null]}: which resource, and what deleting the referenced row does. */
  ref?: { resource: string; onDelete: RefDelete }
  optional: boolean
  /** The value a create takes when the field is not sent; undefined: none. */
  default?: unknown
  unique: boolean
  search: boolean
  sort: boolean
}

export type RefDelete = 'restrict' | 'cascade' | 'set-null'

/** Everything a field type maps to, in one place: request/response schemas, the Drizzle column, the SQL column. */
export interface FieldType {
  /** The request schema of a value (create and update): every rule the API enforces on input. */
  input(field: Field): TSchema
  /** The response schema of a value (no input rules: it only shapes the output). */
  output(field: Field): TSchema
  /** The Drizzle column builder, before NOT NULL. */
  drizzle(field: Field): PgColumnBuilderBase
  /** The SQL type in a migration. */
  sql(field: Field): string
  /** The type a bound parameter is cast to in the prepared statements. */
  cast(field: Field): string
  /** A value for OpenAPI examples and generated tests. */
  example(field: Field): unknown
  /** Parses a default written in the grammar; throws a message when it is not a valid value. */
  parseDefault(text: string, field: Field): unknown
  /** Boolean, enum and ref fields are exact-match list filters named after the field. */
  filter: boolean
  /** Which flags the type accepts. */
  flags: readonly Flag[]
  /** Whether a default is also the column's DEFAULT (inserts always send the value, so this only serves new:field). */
  databaseDefault: boolean
}

export type Flag = 'unique' | 'search' | 'sort'

const INT_MIN = -2_147_483_648
const INT_MAX = 2_147_483_647
/** json fields: at most this many bytes once serialised (SPEC §5). */
export const JSON_MAX_BYTES = 65_536
export const TEXT_MAX_LENGTH = 10_000

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/
const DATE = /^\d{4}-\d{2}-\d{2}$/

const validDate = (text: string) => DATE.test(text) && new Date(`${text}T00:00:00Z`).toISOString().startsWith(text)

/** `decimal{P,S}` as a string pattern: at most P-S digits before the point, at most S after. */
export function decimalPattern(precision: number, scale: number): string {
  const whole = precision - scale
  const integral = whole === 0 ? '0' : `(0|[1-9]\\d{0,${whole - 1}})`
  return scale === 0 ? `^-?${integral}$` : `^-?${integral}(\\.\\d{1,${scale}})?$`
}

const textDefault = (max: number) => (text: string) => {
  if ([...text].length > max) throw new Error(`is longer than ${max} characters`)
  return text
}

export const FIELD_TYPES = {
  string: {
    input: (f) => Type.String({ minLength: 1, maxLength: f.length ?? 255, description: `1–${f.length ?? 255} characters` }),
    output: () => Type.String(),
    drizzle: (f) => varchar({ length: f.length ?? 255 }),
    sql: (f) => `varchar(${f.length ?? 255})`,
    cast: () => 'varchar',
    example: (f) => `Example ${f.name.replace(/_/g, ' ')}`.slice(0, f.length ?? 255),
    parseDefault: (text, f) => {
      if (text === '') throw new Error('is empty, and a string needs at least one character')
      return textDefault(f.length ?? 255)(text)
    },
    filter: false,
    flags: ['unique', 'search', 'sort'],
    databaseDefault: true,
  },
  text: {
    input: () => Type.String({ maxLength: TEXT_MAX_LENGTH, description: `At most ${TEXT_MAX_LENGTH} characters` }),
    output: () => Type.String(),
    drizzle: () => text(),
    sql: () => 'text',
    cast: () => 'text',
    example: (f) => `Some ${f.name.replace(/_/g, ' ')}`,
    parseDefault: (text) => textDefault(TEXT_MAX_LENGTH)(text),
    filter: false,
    flags: ['unique', 'search', 'sort'],
    databaseDefault: true,
  },
  integer: {
    input: () => Type.Integer({ minimum: INT_MIN, maximum: INT_MAX }),
    output: () => Type.Integer(),
    drizzle: () => integer(),
    sql: () => 'integer',
    cast: () => 'integer',
    example: () => 42,
    parseDefault: (text) => {
      const value = Number(text)
      if (!/^-?\d+$/.test(text) || value < INT_MIN || value > INT_MAX) throw new Error('is not a 32-bit integer')
      return value
    },
    filter: false,
    flags: ['unique', 'sort'],
    databaseDefault: true,
  },
  decimal: {
    input: (f) => Type.String({
      pattern: decimalPattern(f.precision!, f.scale!),
      description: `An exact decimal as a string: at most ${f.precision! - f.scale!} digits before the point and ${f.scale} after`,
    }),
    output: () => Type.String({ description: 'An exact decimal, as a string' }),
    drizzle: (f) => numeric({ precision: f.precision!, scale: f.scale! }),
    sql: (f) => `numeric(${f.precision},${f.scale})`,
    cast: () => 'numeric',
    example: (f) => {
      const whole = f.precision! - f.scale!
      const integral = whole >= 2 ? '12' : whole === 1 ? '1' : '0'
      return f.scale! > 0 ? `${integral}.${'5'.padEnd(f.scale!, '0')}` : integral
    },
    parseDefault: (text, f) => {
      if (!new RegExp(decimalPattern(f.precision!, f.scale!)).test(text)) throw new Error(`is not a decimal{${f.precision},${f.scale}}`)
      return text
    },
    filter: false,
    flags: ['unique', 'sort'],
    databaseDefault: true,
  },
  boolean: {
    input: () => Type.Boolean(),
    output: () => Type.Boolean(),
    drizzle: () => boolean(),
    sql: () => 'boolean',
    cast: () => 'boolean',
    example: () => true,
    parseDefault: (text) => {
      if (text !== 'true' && text !== 'false') throw new Error('is not true or false')
      return text === 'true'
    },
    filter: true,
    flags: ['sort'],
    databaseDefault: true,
  },
  date: {
    input: () => Type.String({ format: 'date', description: 'YYYY-MM-DD' }),
    output: () => Type.String({ format: 'date' }),
    drizzle: () => date({ mode: 'string' }),
    sql: () => 'date',
    cast: () => 'date',
    example: () => '2026-11-23',
    parseDefault: (text) => {
      if (!validDate(text)) throw new Error('is not a date (YYYY-MM-DD)')
      return text
    },
    filter: false,
    flags: ['unique', 'sort'],
    databaseDefault: true,
  },
  datetime: {
    input: () => Type.String({ format: 'date-time', description: 'ISO 8601 with an offset' }),
    output: () => Type.String({ format: 'date-time' }),
    drizzle: () => timestamp({ withTimezone: true }),
    sql: () => 'timestamp with time zone',
    cast: () => 'timestamptz',
    example: () => '2026-11-23T18:00:00.000Z',
    parseDefault: (text) => {
      if (!TIMESTAMP.test(text) || !validDate(text.slice(0, 10)) || Number.isNaN(Date.parse(text))) {
        throw new Error('is not an ISO 8601 date-time with an offset')
      }
      return text
    },
    filter: false,
    flags: ['unique', 'sort'],
    // PostgreSQL prints a timestamptz default in the session's time zone, so it could never match the table.
    databaseDefault: false,
  },
  enum: {
    input: (f) => Type.Unsafe<string>({ type: 'string', enum: f.values, description: `One of ${f.values!.join(', ')}` }),
    output: (f) => Type.Unsafe<string>({ type: 'string', enum: f.values }),
    drizzle: () => text(),
    sql: () => 'text',
    cast: () => 'text',
    example: (f) => f.values![0],
    parseDefault: (text, f) => {
      if (!f.values!.includes(text)) throw new Error(`is not one of ${f.values!.join('|')}`)
      return text
    },
    filter: true,
    // Unique per owner would allow only as many rows as there are values.
    flags: ['sort'],
    databaseDefault: true,
  },
  json: {
    input: () => Type.Unsafe<Record<string, unknown>>({ type: 'object', description: `A JSON object, at most ${JSON_MAX_BYTES / 1024} KiB serialised` }),
    output: () => Type.Unsafe<Record<string, unknown>>({ type: 'object', additionalProperties: true }),
    drizzle: () => jsonb(),
    sql: () => 'jsonb',
    cast: () => 'jsonb',
    example: () => ({ key: 'value' }),
    parseDefault: (text) => {
      let value: unknown
      try {
        value = JSON.parse(text)
      } catch {
        throw new Error('is not valid JSON')
      }
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('is not a JSON object')
      return value
    },
    filter: false,
    flags: [],
    databaseDefault: true,
  },
  ref: {
    input: (f) => Type.Integer({ minimum: 1, maximum: INT_MAX, description: `The id of one of your ${f.ref!.resource}` }),
    output: () => Type.Integer(),
    drizzle: () => integer(),
    sql: () => 'integer',
    cast: () => 'integer',
    example: () => 1,
    parseDefault: () => {
      throw new Error('cannot be given: a ref has no default')
    },
    filter: true,
    flags: ['unique'],
    databaseDefault: true,
  },
} as const satisfies Record<string, FieldType>

export type TypeName = keyof typeof FIELD_TYPES

export const TYPE_NAMES = Object.keys(FIELD_TYPES) as TypeName[]

export const fieldType = (field: Field): FieldType => FIELD_TYPES[field.type]
