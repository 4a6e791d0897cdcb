const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F][0-9a-fA-F]{2}/
const isSpace = (c: number) => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09

/**
 * The first object key that appears twice in one object of a JSON text already known to be valid, or
 * undefined. JSON.parse silently keeps the last one; a client sending two values meant something we cannot know.
 */
export function findDuplicateKey(text: string): string | undefined {
  const scopes: (Set<string> | null)[] = [] // a Set per open object, null per open array
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 0x7b) scopes.push(new Set())
    else if (c === 0x5b) scopes.push(null)
    else if (c === 0x7d || c === 0x5d) scopes.pop()
    else if (c === 0x22) {
      let end = i + 1
      while (text.charCodeAt(end) !== 0x22) end += text.charCodeAt(end) === 0x5c ? 2 : 1
      const keys = scopes.at(-1)
      if (keys) {
        let next = end + 1
        while (isSpace(text.charCodeAt(next))) next++
        if (text.charCodeAt(next) === 0x3a) {
          const raw = text.slice(i, end + 1)
          const key = raw.includes('\\') ? (JSON.parse(raw) as string) : raw.slice(1, -1)
          if (keys.has(key)) return key
          keys.add(key)
        }
      }
      i = end
    }
  }
  return undefined
}

/**
 * True when a parsed JSON value holds a string with an unpaired UTF-16 surrogate (only `\uD800`-style escapes
 * can produce one): PostgreSQL would store U+FFFD instead, so two different passwords could collide.
 */
export function hasLoneSurrogate(text: string, value: unknown): boolean {
  if (!SURROGATE_ESCAPE.test(text)) return false
  const stack: unknown[] = [value]
  while (stack.length) {
    const v = stack.pop()
    if (typeof v === 'string') {
      if (LONE_SURROGATE.test(v)) return true
    } else if (v && typeof v === 'object') {
      for (const [key, inner] of Object.entries(v)) {
        if (LONE_SURROGATE.test(key)) return true
        stack.push(inner)
      }
    }
  }
  return false
}
