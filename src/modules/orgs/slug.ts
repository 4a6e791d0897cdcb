import { randomBytes } from 'node:crypto'

const MIN = 3
const MAX = 40
const SUFFIX_LENGTH = 6
const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'

/** `name` as a slug: accents dropped, every run of other characters one `-`, at most 40 characters; may be short or empty. */
export function slugify(name: string): string {
  return name.normalize('NFKD').replace(/[\u0300-\u036f]/g, '').toLowerCase()
    .replace(/[^a-z0-9]+/g, '-').replace(/^-+/, '').slice(0, MAX).replace(/-+$/, '')
}

const randomSuffix = () => Array.from(randomBytes(SUFFIX_LENGTH), (b) => ALPHABET[b % ALPHABET.length]).join('')

/**
 * Slugs to try, in order, for an org created without one: the name's own slug when it is long enough, then that
 * slug with a random suffix (a counter would tell how many orgs share the name, and races on the next number).
 * A name with too few letters or digits (`"A"`, `"日本"`) starts at `org-…`.
 */
export function* slugCandidates(name: string): Generator<string> {
  const base = slugify(name)
  if (base.length >= MIN) yield base
  const stem = base.length >= MIN ? base.slice(0, MAX - SUFFIX_LENGTH - 1).replace(/-+$/, '') : `org${base ? `-${base}` : ''}`
  for (;;) yield `${stem}-${randomSuffix()}`
}
