import { describe, expect, it } from 'vitest'
import { findDuplicateKey, hasLoneSurrogate } from './json-checks.js'

describe('findDuplicateKey', () => {
  it.each([
    ['{"a":1,"a":2}', 'a'],
    ['{"a":1,"b":{"c":1,"c":2}}', 'c'],
    ['{"a":1, "\\u0061" : 2}', 'a'],
    ['[{"a":1},{"a":2},{"b":[{"x":1,"x":1}]}]', 'x'],
  ])('finds the repeated key in %s', (text, key) => {
    expect(findDuplicateKey(text)).toBe(key)
  })

  it.each([
    '{"a":1,"b":{"a":1}}',
    '{"a":"\\"a\\":1","b":"a"}',
    '["a","a"]',
    '{"a":["a","a"],"b":{"a":{"a":1}}}',
    '"a"',
    '{}',
  ])('accepts %s', (text) => {
    expect(findDuplicateKey(text)).toBeUndefined()
  })
})

describe('hasLoneSurrogate', () => {
  const check = (text: string) => hasLoneSurrogate(text, JSON.parse(text))
  it('finds unpaired high and low surrogates in values and keys, accepts pairs', () => {
    expect(check('{"a":"x\\ud800"}')).toBe(true)
    expect(check('{"a":["\\udfff"]}')).toBe(true)
    expect(check('{"\\ud800":1}')).toBe(true)
    expect(check('{"a":"\\ud83d\\ude00"}')).toBe(false)
    expect(check('{"a":"plain"}')).toBe(false)
  })
})
