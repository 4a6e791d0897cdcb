import pg from 'pg'
import { describe, expect, it } from 'vitest'
import { resolvePooler, withoutName } from './poolers.js'

describe('resolvePooler', () => {
  it('takes DATABASE_POOLER as given', () => {
    expect(resolvePooler('session', 'postgres://u@pgbouncer:6432/keel')).toBe('session')
    expect(resolvePooler('transaction', 'postgres://u@db:5432/keel')).toBe('transaction')
  })

  it('unset: transaction on 6432 and 6543, session on any other port or none', () => {
    expect(resolvePooler(undefined, 'postgres://u@pgbouncer:6432/keel')).toBe('transaction')
    expect(resolvePooler(undefined, 'postgres://u@pooler.example.com:6543/keel')).toBe('transaction')
    expect(resolvePooler(undefined, 'postgres://u@db:5432/keel')).toBe('session')
    expect(resolvePooler(undefined, 'postgres://u@db/keel')).toBe('session')
    expect(resolvePooler(undefined, undefined)).toBe('session')
  })
})

describe('withoutName', () => {
  it('drops the name of a query config and keeps everything else, without touching the original', () => {
    const types = { getTypeParser: () => String }
    const config = { name: 'items_find_for_owner', text: 'select 1', rowMode: 'array', types }
    expect(withoutName(config)).toEqual({ text: 'select 1', rowMode: 'array', types })
    expect(config.name).toBe('items_find_for_owner') // drizzle reuses its config object on every execution
  })

  it('passes text, unnamed configs and submittables through as they are', () => {
    expect(withoutName('select 1')).toBe('select 1')
    const unnamed = { text: 'select 1' }
    expect(withoutName(unnamed)).toBe(unnamed)
    const submittable = new pg.Query({ name: 'n', text: 'select 1' })
    expect(withoutName(submittable)).toBe(submittable)
  })
})
