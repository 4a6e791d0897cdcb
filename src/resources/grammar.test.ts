import { describe, expect, it } from 'vitest'
import { GrammarError, parseField, parseFields, singularOf } from './grammar.js'

describe('parseField', () => {
  it.each([
    ['title:string', { name: 'title', type: 'string', optional: false, unique: false, search: false, sort: false }],
    ['code:string{12}:unique', { name: 'code', type: 'string', length: 12, unique: true }],
    ['notes:text?:search', { name: 'notes', type: 'text', optional: true, search: true }],
    ['count:integer=-3:sort', { name: 'count', type: 'integer', default: -3, sort: true }],
    ['price:decimal{10,2}=12.50', { name: 'price', type: 'decimal', precision: 10, scale: 2, default: '12.50' }],
    ['done:boolean=false', { name: 'done', type: 'boolean', default: false }],
    ['due:date?', { name: 'due', type: 'date', optional: true }],
    ['at:datetime=2026-01-01T09:00:00+02:00:sort', { name: 'at', type: 'datetime', default: '2026-01-01T09:00:00+02:00', sort: true }],
    ['status:enum{open|closed}=open', { name: 'status', type: 'enum', values: ['open', 'closed'], default: 'open' }],
    ['meta:json={"a":[1]}', { name: 'meta', type: 'json', default: { a: [1] } }],
    ['project:ref{projects}', { name: 'project_id', type: 'ref', ref: { resource: 'projects', onDelete: 'restrict' } }],
    ['owner_project_id:ref{projects,cascade}', { name: 'owner_project_id', ref: { resource: 'projects', onDelete: 'cascade' } }],
    ['project:ref{projects,set-null}?', { name: 'project_id', optional: true, ref: { resource: 'projects', onDelete: 'set-null' } }],
    ['label:string=a:b:sort', { name: 'label', default: 'a:b', sort: true }],
  ])('%s', (text, expected) => {
    expect(parseField(text)).toMatchObject(expected)
  })

  it.each([
    ['title', /malformed/],
    ['title:', /malformed/],
    ['Title:string', /snake_case/],
    ['ti-tle:string', /snake_case/],
    ['size:float', /unknown type "float"/],
    ['title:string:bogus', /unknown flag "bogus"/],
    ['title:string{0}', /string\{N\}/],
    ['title:string{abc}', /string\{N\}/],
    ['count:integer{3}', /integer without/],
    ['price:decimal', /decimal\{P,S\}/],
    ['price:decimal{2,3}', /decimal\{P,S\}/],
    ['status:enum{}', /enum\{a\|b\|c\}/],
    ['status:enum{a|a}', /duplicates/],
    ['status:enum{a|b}=c', /default is not one of a\|b/],
    ['project:ref{projects,explode}', /ref\{resource\}/],
    ['project:ref{projects,set-null}', /needs "\?"/],
    ['project:ref{projects}=3', /a ref has no default/],
    ['n:integer=1.5', /32-bit/],
    ['n:integer=2147483648', /32-bit/],
    ['price:decimal{4,2}=123.4', /decimal\{4,2\}/],
    ['done:boolean=yes', /true or false/],
    ['due:date=2026-02-30', /not a date/],
    ['at:datetime=2026-01-01T09:00:00', /offset/],
    ['meta:json=[1]', /JSON object/],
    ['meta:json={', /valid JSON/],
    ['code:string{3}=abcd', /longer than 3/],
    ['title:string=', /empty/],
    ['done:boolean:search', /boolean cannot be :search/],
    ['meta:json:sort', /json cannot be :sort/],
    ['title:string:sort:sort', /given twice/],
    ['id:integer', /every resource already has/],
    ['owner_id:integer', /every resource already has/],
    ['created_at:datetime', /every resource already has/],
    ['updated_at:datetime', /every resource already has/],
    ['owner:ref{users}', /every resource already has/],
    ['select:string', /reserved word/],
    ['order:integer', /reserved word/],
    ['class:string', /reserved word/],
    ['constructor:string', /reserved word/],
    ['skip:integer', /list query parameter/],
    ['limit:integer', /reserved word/],
    ['q:string', /list query parameter/],
    ['a_very_long_field_name_indeed:string', /longer than 24/],
  ])('refuses %s with one line naming the problem', (text, message) => {
    let error: unknown
    try {
      parseField(text)
    } catch (err) {
      error = err
    }
    expect(error).toBeInstanceOf(GrammarError)
    expect((error as Error).message).toMatch(message)
    expect((error as Error).message).not.toContain('\n')
  })
})

describe('parseFields', () => {
  it('refuses a name given twice, including a ref and a field it would collide with', () => {
    expect(() => parseFields(['a:string', 'a:text'])).toThrow('field "a" is given twice')
    expect(() => parseFields(['project_id:integer', 'project:ref{projects}'])).toThrow('field "project_id" is given twice')
  })
})

describe('singularOf', () => {
  it.each([['tasks', 'task'], ['categories', 'category'], ['boxes', 'box'], ['addresses', 'address'], ['matches', 'match'], ['news', 'new']])('%s → %s', (plural, singular) => {
    expect(singularOf(plural)).toBe(singular)
  })
})
