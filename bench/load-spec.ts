/** What one scenario sends, independent of the load generator that sends it (autocannon or wrk). */
export interface LoadSpec {
  method: 'GET' | 'POST' | 'PATCH'
  /** One path, or several to pick from at random for each request. */
  path: string | readonly string[]
  headers?: Record<string, string>
  body?: string
  /** Refresh rotation: each request's body carries a token taken from the pool, and a 200 puts the new one back. */
  refreshPool?: RefreshPool
}

/**
 * Refresh tokens that were never sent. Refresh rotates (the old token dies, and presenting it again revokes every
 * session of its user), so each request takes one token here and a 200 gives the new one back. A request cut off at
 * the end of a run loses its token: it may have been rotated already, and reusing it would turn the rest into 401s.
 */
export class RefreshPool {
  private readonly tokens: string[] = []
  add(token: string): void {
    this.tokens.push(token)
  }

  take(): string | undefined {
    return this.tokens.shift()
  }

  /** Every token, emptying the pool: handed to a load generator that keeps its own queue (wrk). */
  drain(): string[] {
    return this.tokens.splice(0)
  }

  get size(): number {
    return this.tokens.length
  }
}

/** What a pool-less request sends when the pool ran dry: a dead token shows up as a 401, not a stall. */
export const EXHAUSTED_TOKEN = 'pool-exhausted'

export const refreshBody = (token: string) => JSON.stringify({ refresh_token: token })
