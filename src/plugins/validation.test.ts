import { describe, expect, it, vi } from 'vitest'
import { assertDecimalIdParam, compileOnce } from './validation.js'

describe('compileOnce', () => {
  it('compiles on first use only, and keeps the result', () => {
    const compile = vi.fn(() => (x: number) => x + 1)
    const get = compileOnce(compile)
    expect(compile).not.toHaveBeenCalled()
    expect(get()(1)).toBe(2)
    expect(get()(2)).toBe(3)
    expect(compile).toHaveBeenCalledTimes(1)
  })

  it('keeps a failure too: the same error each time, without compiling again', () => {
    const compile = vi.fn((): never => { throw new Error('schema is invalid') })
    const get = compileOnce(compile)
    expect(get).toThrow('schema is invalid')
    expect(get).toThrow('schema is invalid')
    expect(compile).toHaveBeenCalledTimes(1)
  })
})

describe('assertDecimalIdParam', () => {
  const refused = (params: unknown) => {
    try {
      assertDecimalIdParam(params)
      return undefined
    } catch (err) {
      return (err as { validation: { instancePath: string }[] }).validation[0]!.instancePath
    }
  }

  it('checks every parameter named id or ending in _id, and nothing else', () => {
    expect(refused({ id: '12', org_id: '3', user_id: '40' })).toBeUndefined()
    expect(refused({ id: '0x2' })).toBe('/id')
    expect(refused({ org_id: '1', user_id: '2.0' })).toBe('/user_id')
    expect(refused({ project_id: '1e0' })).toBe('/project_id')
    expect(refused({ slug: '0x2', identity: 'x', paid: '1.5' })).toBeUndefined()
    expect(refused(undefined)).toBeUndefined()
  })
})
