import { FIELD_TYPES, TYPE_NAMES, type Field, type Flag, type RefDelete, type TypeName } from './field-types.js'

/** Bad input to a declaration or the generator: one line that names the problem. */
export class GrammarError extends Error {
  override name = 'GrammarError'
}

/** Columns every resource has; a field may not take their names. */
export const BUILT_IN_COLUMNS = ['id', 'owner_id', 'created_at', 'updated_at']

// Names that would make a column, a table or a generated identifier need quoting or shadow a keyword.
const SQL_KEYWORDS = [
  'all', 'analyse', 'analyze', 'and', 'any', 'array', 'as', 'asc', 'asymmetric', 'both', 'case', 'cast', 'check', 'collate',
  'column', 'constraint', 'create', 'current_date', 'current_role', 'current_time', 'current_timestamp', 'current_user',
  'default', 'deferrable', 'desc', 'distinct', 'do', 'else', 'end', 'except', 'false', 'fetch', 'for', 'foreign', 'from',
  'grant', 'group', 'having', 'in', 'initially', 'intersect', 'into', 'lateral', 'leading', 'limit', 'localtime',
  'localtimestamp', 'not', 'null', 'offset', 'on', 'only', 'or', 'order', 'placing', 'primary', 'references', 'returning',
  'select', 'session_user', 'some', 'symmetric', 'table', 'then', 'to', 'trailing', 'true', 'union', 'unique', 'user',
  'using', 'variadic', 'when', 'where', 'window', 'with', 'delete', 'insert', 'update', 'drop', 'alter', 'index', 'join',
  'key', 'values', 'between', 'like', 'ilike', 'is', 'isnull', 'notnull', 'natural', 'left', 'right', 'inner', 'outer', 'full',
  'cross', 'similar', 'verbose', 'freeze', 'binary', 'overlaps', 'tablesample', 'authorization', 'concurrently',
]
const JS_RESERVED = [
  'break', 'case', 'catch', 'class', 'const', 'continue', 'debugger', 'default', 'delete', 'do', 'else', 'enum', 'export',
  'extends', 'false', 'finally', 'for', 'function', 'if', 'import', 'in', 'instanceof', 'new', 'null', 'return', 'super',
  'switch', 'this', 'throw', 'true', 'try', 'typeof', 'var', 'void', 'while', 'with', 'yield', 'let', 'static', 'implements',
  'interface', 'package', 'private', 'protected', 'public', 'await', 'arguments', 'eval', 'undefined', 'constructor',
  'prototype', '__proto__', 'hasOwnProperty', 'toString', 'valueOf',
]
const RESERVED = new Set([...SQL_KEYWORDS, ...JS_RESERVED.map((w) => w.toLowerCase())])
/** Query parameters every list has: a field of that name could not be a filter. */
const LIST_PARAMS = new Set(['skip', 'limit', 'sort', 'q'])

const NAME = /^[a-z][a-z0-9_]*$/
// Leaves room for the longest generated identifier (`<table>_owner_id_<field>_id_idx`) within PostgreSQL's 63 bytes.
export const MAX_NAME_LENGTH = 24

/** Checks a resource or field name: snake_case, not reserved, short enough for the identifiers derived from it. */
export function assertName(name: string, what: string): void {
  if (!NAME.test(name) || name.endsWith('_') || name.includes('__')) {
    throw new GrammarError(`${what} "${name}" must be snake_case: a lower-case letter, then letters, digits or single underscores`)
  }
  if (name.length > MAX_NAME_LENGTH) throw new GrammarError(`${what} "${name}" is longer than ${MAX_NAME_LENGTH} characters`)
  if (RESERVED.has(name)) throw new GrammarError(`${what} "${name}" is a reserved word (SQL or JavaScript)`)
}

const FLAGS = new Set<Flag>(['unique', 'search', 'sort'])
const FIELD = /^([^:]*):([a-z]+)(\{[^}]*\})?(\?)?(=.*)?$/s

/**
 * Parses one field of the grammar `name:type[?][=default][:flag...]` (SPEC §5), e.g. `title:string{120}:search:sort`,
 * `price:decimal{10,2}=0.00`, `project:ref{projects,cascade}`. A ref named `project` becomes the field `project_id`.
 */
export function parseField(text: string): Field {
  const flags: Flag[] = []
  let rest = text
  // Flags come last; a default may itself contain ':' (a time), so they are taken off the end.
  for (let match = /:([a-z-]+)$/.exec(rest); match && FLAGS.has(match[1] as Flag); match = /:([a-z-]+)$/.exec(rest)) {
    flags.unshift(match[1] as Flag)
    rest = rest.slice(0, match.index)
  }
  const parts = FIELD.exec(rest)
  if (!parts) {
    const flag = /^[^=]*:[^:=]+:([^:=]+)$/.exec(text)?.[1]
    if (flag) throw new GrammarError(`field "${text}": unknown flag "${flag}" (flags: unique, search, sort)`)
    throw new GrammarError(`field "${text}" is malformed: expected name:type[?][=default][:flag...], e.g. title:string:search`)
  }
  const [, rawName = '', typeName = '', braces, question, defaultText] = parts
  if (!(typeName in FIELD_TYPES)) {
    throw new GrammarError(`field "${text}": unknown type "${typeName}" (types: ${TYPE_NAMES.join(', ')})`)
  }
  const type = typeName as TypeName
  const field: Field = { name: rawName, type, optional: question === '?', unique: false, search: false, sort: false }
  parseArguments(field, braces?.slice(1, -1), text)
  if (type === 'ref' && !field.name.endsWith('_id')) field.name = `${field.name}_id`
  assertName(rawName, 'field')
  if (BUILT_IN_COLUMNS.includes(field.name)) throw new GrammarError(`field "${text}": "${field.name}" is a column every resource already has`)
  if (LIST_PARAMS.has(field.name)) throw new GrammarError(`field "${text}": "${field.name}" is a list query parameter (skip, limit, sort, q)`)

  const allowed: readonly Flag[] = FIELD_TYPES[type].flags
  for (const flag of flags) {
    if (!allowed.includes(flag)) throw new GrammarError(`field "${text}": a ${type} cannot be :${flag}`)
    if (field[flag]) throw new GrammarError(`field "${text}": :${flag} is given twice`)
    field[flag] = true
  }
  if (defaultText !== undefined) {
    try {
      field.default = FIELD_TYPES[type].parseDefault(defaultText.slice(1), field)
    } catch (err) {
      throw new GrammarError(`field "${text}": the default ${(err as Error).message}`)
    }
  }
  if (field.ref?.onDelete === 'set-null' && !field.optional) {
    throw new GrammarError(`field "${text}": ref{${field.ref.resource},set-null} needs "?" (the field becomes null)`)
  }
  return field
}

function parseArguments(field: Field, args: string | undefined, text: string): void {
  const fail = (expected: string): never => { throw new GrammarError(`field "${text}": expected ${expected}`) }
  switch (field.type) {
    case 'string': {
      if (args === undefined) return
      const length = /^[1-9]\d*$/.test(args) ? Number(args) : NaN
      if (!(length <= 10_485_760)) fail('string{N} with N a positive integer up to 10485760')
      field.length = length
      return
    }
    case 'decimal': {
      const match = /^([1-9]\d*),(0|[1-9]\d*)$/.exec(args ?? '')
      const precision = Number(match?.[1]), scale = Number(match?.[2])
      if (!match || precision > 1000 || scale > precision) fail('decimal{P,S} with 1 ≤ P ≤ 1000 and 0 ≤ S ≤ P, e.g. decimal{10,2}')
      field.precision = precision
      field.scale = scale
      return
    }
    case 'enum': {
      const values = (args ?? '').split('|')
      if (!args || values.some((v) => !/^[A-Za-z0-9_.-]+$/.test(v))) fail('enum{a|b|c} with values of letters, digits, _ . -')
      if (new Set(values).size !== values.length) fail('enum values without duplicates')
      field.values = values
      return
    }
    case 'ref': {
      const match = /^([a-z][a-z0-9_]*)(?:,(cascade|set-null))?$/.exec(args ?? '')
      if (!match) fail('ref{resource}, ref{resource,cascade} or ref{resource,set-null}')
      field.ref = { resource: match![1]!, onDelete: (match![2] ?? 'restrict') as RefDelete }
      return
    }
    default:
      if (args !== undefined) fail(`${field.type} without {…}`)
  }
}

/** Parses every field of a resource, refusing duplicate names. */
export function parseFields(texts: readonly string[]): Field[] {
  const fields = texts.map(parseField)
  const seen = new Set<string>()
  for (const field of fields) {
    if (seen.has(field.name)) throw new GrammarError(`field "${field.name}" is given twice`)
    seen.add(field.name)
  }
  return fields
}

/** `tasks` → `task`, `categories` → `category`, `boxes` → `box`; a declaration can give its own. */
export function singularOf(plural: string): string {
  if (/ies$/.test(plural)) return `${plural.slice(0, -3)}y`
  if (/(ss|x|z|ch|sh)es$/.test(plural)) return plural.slice(0, -2)
  if (/s$/.test(plural) && !/ss$/.test(plural)) return plural.slice(0, -1)
  return plural
}

/** `line_items` → `LineItems`. */
export const pascalCase = (name: string) => name.split('_').map((w) => w.charAt(0).toUpperCase() + w.slice(1)).join('')
