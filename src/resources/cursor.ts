import { createHmac, timingSafeEqual } from 'node:crypto'
import { ValidationError } from '../shared/errors.js'

/** Where a cursor page resumes: the last row's sort value as PostgreSQL printed it (null for a NULL), and its id. */
export interface After {
  value: string | null
  id: number
}

const MAC_BYTES = 16
/** Cursors remembered per codec (issued ones, with their list); forgotten all at once past this many. */
const REMEMBERED = 4_096

/**
 * Opaque list cursors (SPEC §9): `base64url(JSON [value, id]) . base64url(HMAC)`. The MAC covers the resource, the
 * sort and the filters of the list the cursor came from, none of which the cursor carries: a cursor used with another
 * sort or other filters, or altered in any byte, fails the check (422). The value stays PostgreSQL's text so a
 * timestamp keeps its microseconds. The key is derived from SECRET_KEY, so every instance accepts every cursor.
 */
export function createCursorCodec(secretKey: string, resource: string) {
  const key = createHmac('sha256', secretKey).update('keel/list-cursor/v1').digest()
  // The binding: NUL cannot occur in a query value's JSON text, so no two lists share one.
  const mac = (payload: string, binding: string) =>
    createHmac('sha256', key).update(`${resource}\0${binding}\0${payload}`).digest().subarray(0, MAC_BYTES)
  // A MAC is ~11 µs in a request (createHmac's object and context; the hashing is a fraction of that), on every
  // page. The same positions recur: a list's first page for every client that polls it, and each page's cursor
  // comes back as the next request's. So both directions remember what they computed, keyed by all of its input:
  // a remembered cursor is the very string the MAC check would accept, and anything else is checked in full.
  const issued = new Map<string, string>()
  const accepted = new Map<string, After>()
  const remember = <V>(map: Map<string, V>, key: string, value: V) => {
    if (map.size >= REMEMBERED) map.clear()
    map.set(key, value)
    return value
  }
  return {
    /** The binding of a list: its sort and every filter sent, in a fixed order. */
    bindingOf(sort: string, filters: Record<string, unknown>): string {
      return JSON.stringify([sort, Object.keys(filters).sort().filter((k) => filters[k] !== undefined).map((k) => [k, filters[k]])])
    },

    encode(after: After, binding: string): string {
      const position = JSON.stringify([after.value, after.id])
      const key = `${binding}\0${position}`
      const known = issued.get(key)
      if (known !== undefined) return known
      const payload = Buffer.from(position).toString('base64url')
      const cursor = `${payload}.${mac(payload, binding).toString('base64url')}`
      remember(accepted, `${binding}\0${cursor}`, { value: after.value, id: after.id })
      return remember(issued, key, cursor)
    },

    /** The position a cursor stands for; 422 on `query.cursor` for anything this codec did not issue for `binding`. */
    decode(cursor: string, binding: string): After {
      const known = accepted.get(`${binding}\0${cursor}`)
      if (known) return { value: known.value, id: known.id }
      const [payload, sent, extra] = cursor.split('.')
      // Compared as text: base64url has spare bits, so two spellings could decode to the same bytes.
      const given = Buffer.from(sent ?? '')
      const expected = Buffer.from(mac(payload ?? '', binding).toString('base64url'))
      if (extra !== undefined || !payload || given.length !== expected.length || !timingSafeEqual(given, expected)) {
        throw new ValidationError([{ field: 'query.cursor', message: 'is not a cursor of this list (its sort and filters must be the ones it came with)' }])
      }
      // The MAC proves this codec wrote the payload, for this list: its shape is the one `encode` gives.
      const [value, id] = JSON.parse(Buffer.from(payload, 'base64url').toString()) as [string | null, number]
      remember(accepted, `${binding}\0${cursor}`, { value, id })
      return { value, id }
    },
  }
}

export type CursorCodec = ReturnType<typeof createCursorCodec>
