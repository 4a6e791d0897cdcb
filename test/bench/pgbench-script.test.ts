import { describe, expect, it } from 'vitest'
import { pgbenchScript } from '../../bench/references.js'

describe('the pgbench reference script', () => {
  it('keeps colons out of literals, where pgbench would read them as variables', () => {
    // Seen in CI: a captured `pg_notify($1, $2)` with 'keel-bye:…' became a pgbench variable and every client aborted.
    const script = pgbenchScript([
      { text: 'select $1, $2, $3 where id = $4', values: ['keel-bye:x8', new Date('2026-12-04T02:38:36.123Z'), "it's\\", 51], name: undefined },
    ], new Map([['51', ':item_id']]))
    expect(script).toBe(String.raw`select E'keel-bye\x3ax8', E'2026-12-04T02\x3a38\x3a36.123Z', 'it''s\' where id = :item_id;` + '\n')
  })
})
