import Fastify from 'fastify'
import { describe, expect, it } from 'vitest'
import { repeatWhileUp } from './periodic.js'

describe('repeatWhileUp', () => {
  it('runs from ready to close, logs a failed turn as a warning and keeps going', async () => {
    const warnings: string[] = []
    const app = Fastify({ logger: { level: 'warn', stream: { write: (line: string) => { warnings.push(JSON.parse(line).msg as string) } } } })
    let turns = 0
    repeatWhileUp(app, 'test clean-up', 5, async () => {
      if (++turns === 1) throw new Error('database away')
    })
    await new Promise((resolve) => setTimeout(resolve, 20))
    expect(turns).toBe(0) // not before ready
    await app.ready()
    await new Promise((resolve) => setTimeout(resolve, 60))
    await app.close()
    const after = turns
    expect(after).toBeGreaterThanOrEqual(2)
    expect(warnings).toContain('test clean-up failed')
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(turns).toBe(after)
  })
})
