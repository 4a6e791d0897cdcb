import { describe, expect, it } from 'vitest'
import { ValidationError } from '../shared/errors.js'
import { createCursorCodec } from './cursor.js'

/** The 422 on query.cursor that every cursor not issued for the list gets. */
const refused = (decode: () => unknown) => {
  let thrown: unknown
  try {
    decode()
  } catch (err) {
    thrown = err
  }
  expect(thrown).toBeInstanceOf(ValidationError)
  expect((thrown as ValidationError).status).toBe(422)
}
const flip = (text: string, at: number) => text.slice(0, at) + (text[at] === 'A' ? 'B' : 'A') + text.slice(at + 1)

describe('the cursor codec remembers what it computed, and nothing else', () => {
  const binding = (sort: string) => JSON.stringify([sort, []])

  it('gives the same cursor as a codec that never saw the position (another instance)', () => {
    const one = createCursorCodec('k'.repeat(48), 'items')
    const first = one.encode({ value: 'x', id: 7 }, binding('name'))
    expect(one.encode({ value: 'x', id: 7 }, binding('name'))).toBe(first)
    const other = createCursorCodec('k'.repeat(48), 'items')
    expect(other.decode(first, binding('name'))).toEqual({ value: 'x', id: 7 })
    expect(other.encode({ value: 'x', id: 7 }, binding('name'))).toBe(first)
  })

  it('refuses a remembered cursor with another list, and every altered one', () => {
    const codec = createCursorCodec('k'.repeat(48), 'items')
    const cursor = codec.encode({ value: null, id: 12 }, binding('id'))
    expect(codec.decode(cursor, binding('id'))).toEqual({ value: null, id: 12 })
    refused(() => codec.decode(cursor, binding('-id')))
    for (const bad of [flip(cursor, 0), flip(cursor, cursor.length - 1), `${cursor}.x`, `${cursor}\u0000`]) {
      refused(() => codec.decode(bad, binding('id')))
    }
    refused(() => createCursorCodec('other-key'.repeat(6), 'items').decode(cursor, binding('id')))
  })

  it('hands out a copy of a remembered position', () => {
    const codec = createCursorCodec('k'.repeat(48), 'items')
    const cursor = codec.encode({ value: 'a', id: 1 }, binding('name'))
    codec.decode(cursor, binding('name')).id = 99
    expect(codec.decode(cursor, binding('name'))).toEqual({ value: 'a', id: 1 })
  })

  it('forgets past its bound and still answers the same', () => {
    const codec = createCursorCodec('k'.repeat(48), 'items')
    const cursors = Array.from({ length: 5_000 }, (_, id) => codec.encode({ value: null, id }, binding('id')))
    expect(cursors.map((c) => codec.decode(c, binding('id')).id)).toEqual(cursors.map((_, id) => id))
  })
})
