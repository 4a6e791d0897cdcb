import { describe, expect, it, vi } from 'vitest'
import { compileOnce } from './validation.js'

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
