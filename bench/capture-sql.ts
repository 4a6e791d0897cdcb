import pg from 'pg'
import pino from 'pino'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { createDatabase } from '../src/db/client.js'

export interface CapturedStatement {
  text: string
  values: unknown[]
  /** Set when the statement is sent as a named prepared statement. */
  name: string | undefined
}

interface QueryConfigLike {
  text?: string
  values?: unknown[]
  name?: string
}

function toStatement(args: unknown[]): CapturedStatement | undefined {
  const [first, second] = args
  if (typeof first === 'string') return { text: first, values: Array.isArray(second) ? second : [], name: undefined }
  if (first && typeof first === 'object' && typeof (first as QueryConfigLike).text === 'string') {
    const config = first as QueryConfigLike
    return { text: config.text!, values: config.values ?? (Array.isArray(second) ? second : []), name: config.name }
  }
  return undefined
}

/**
 * The SQL one request makes, recorded from Keel's own code rather than written by hand, so the pgbench reference
 * follows the code as it changes. Keel is built in this process on the bench database and every query node-postgres
 * sends is recorded; the request is made a few times first and the last one is kept, so caches are warm as under load.
 */
export async function captureRequestSql(
  databaseUrl: string,
  env: Record<string, string>,
  request: { method: 'GET'; url: string; headers: Record<string, string> },
): Promise<CapturedStatement[]> {
  const config = loadConfig({ ...env, LOG_LEVEL: 'silent', WORKERS: '1' })
  // Patched before any connection exists: the pool's guard binds each connection's query when it connects.
  const original = pg.Client.prototype.query
  let recording: CapturedStatement[] | undefined
  pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
    const statement = toStatement(args)
    if (recording && statement) recording.push(statement)
    return (original as (...a: unknown[]) => unknown).apply(this, args)
  } as typeof original
  const database = await createDatabase({ databaseUrl, poolSize: 2 })
  const app = await buildApp({ config, database, logger: pino({ level: 'silent' }) })
  try {
    await app.ready()
    let captured: CapturedStatement[] = []
    for (let i = 0; i < 3; i++) {
      recording = i === 2 ? [] : undefined
      const res = await app.inject(request)
      if (res.statusCode !== 200) throw new Error(`${request.method} ${request.url} answered ${res.statusCode} while capturing SQL: ${res.body}`)
      captured = recording ?? []
    }
    // Stopped before close: closing sends the invalidation bus's goodbye NOTIFY, which is no part of the request.
    recording = undefined
    return captured
  } finally {
    pg.Client.prototype.query = original
    await app.close()
    await database.close()
  }
}
