import { pgTable } from 'drizzle-orm/pg-core'
import { Compile } from 'typebox/compile'
import { describe, expect, it } from 'vitest'
import { FIELD_TYPES, TYPE_NAMES, decimalPattern, type FieldType, type TypeName } from './field-types.js'
import { parseField } from './grammar.js'

// One field of each type, as the grammar writes it.
const SAMPLES: Record<TypeName, string> = {
  string: 'title:string{80}', text: 'notes:text', integer: 'count:integer', decimal: 'price:decimal{10,2}',
  boolean: 'done:boolean', date: 'due:date', datetime: 'at:datetime', enum: 'status:enum{open|closed}',
  json: 'meta:json', ref: 'project:ref{projects}',
}

describe('field types', () => {
  it.each(TYPE_NAMES)('%s maps to TypeBox, Drizzle and SQL, and the Drizzle column is the SQL type', (name) => {
    const field = parseField(SAMPLES[name])
    const type: FieldType = FIELD_TYPES[name]
    expect(type.input(field)).toBeTypeOf('object')
    expect(type.output(field)).toBeTypeOf('object')
    const column = pgTable('t', { c: type.drizzle(field) }).c
    const normalise = (sql: string) => sql.replace(/\s+/g, '').replace('timestamptz', 'timestampwithtimezone')
    expect(normalise(column.getSQLType())).toBe(normalise(type.sql(field)))
    expect(type.cast(field)).toMatch(/^[a-z]+$/)
    // The type's own example is valid input: OpenAPI examples and generated tests rely on it.
    expect(Compile(type.input(field) as never).Check(type.example(field))).toBe(true)
  })

  it('has a sample for every type', () => {
    expect(Object.keys(SAMPLES).sort()).toEqual([...TYPE_NAMES].sort())
  })

  it.each([
    [10, 2, ['0', '-12.50', '12345678.99', '1.5'], ['12.345', '123456789', '01.5', '1.', '.5', '1e3', ' 1']],
    [3, 3, ['0.125', '-0.1', '0'], ['1.0', '0.1234']],
    [4, 0, ['9999', '-1'], ['1.0', '10000']],
  ])('decimal{%i,%i} accepts exact strings and refuses the rest', (precision, scale, valid, invalid) => {
    const pattern = new RegExp(decimalPattern(precision, scale))
    for (const text of valid) expect(pattern.test(text), text).toBe(true)
    for (const text of invalid) expect(pattern.test(text), text).toBe(false)
  })
})
