// `npx tsx bench/metrics-inject-cost.ts`: the CPU a request pays for metrics, without HTTP or a load generator.
// Two apps in one process on one fresh PostgreSQL database (BENCH_DATABASE_URL's server), metrics off and on, take
// turns answering GET /api/v1/items/{id} through app.inject; process.cpuUsage per request, 20 alternating rounds.
// The minimum of the rounds is the least disturbed figure on a shared machine; the median paired difference is shown too.
import pg from 'pg'
import pino from 'pino'
import type { FastifyInstance } from 'fastify'
import { buildApp } from '../src/app.js'
import { loadConfig } from '../src/config.js'
import { createDatabase } from '../src/db/client.js'
import { createMigrator } from '../src/db/migrator.js'

const adminUrl = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
const ROUNDS = 20
const REQUESTS = 1000

async function admin(statement: string): Promise<void> {
  const client = new pg.Client(adminUrl)
  await client.connect()
  try {
    await client.query(statement)
  } finally {
    await client.end()
  }
}

async function cpuMicrosPerRequest(app: FastifyInstance, url: string, headers: Record<string, string>): Promise<number> {
  const start = process.cpuUsage()
  for (let i = 0; i < REQUESTS; i++) {
    const res = await app.inject({ url, headers })
    if (res.statusCode !== 200) throw new Error(`GET ${url}: ${res.statusCode}`)
  }
  const used = process.cpuUsage(start)
  return (used.user + used.system) / REQUESTS
}

const name = `keel_metrics_cost_${process.pid}`
await admin(`CREATE DATABASE ${name}`)
try {
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  const env = {
    NODE_ENV: 'test', SECRET_KEY: 'metrics-cost-secret-key-0123456789abcdef', BCRYPT_ROUNDS: '4', LOG_LEVEL: 'silent',
    DATABASE_URL: url.toString(), RATE_LIMIT_PER_MINUTE: '1000000000', DATA_DIR: 'data',
  }
  const database = await createDatabase({ databaseUrl: url.toString() })
  await createMigrator(database).migrate()
  const logger = pino({ level: 'silent' })
  const on = await buildApp({ config: loadConfig({ ...env, METRICS_PORT: '9464' }), database, logger })
  const off = await buildApp({ config: loadConfig(env), database, logger })
  const credentials = { email: 'metrics-cost@example.com', password: 'metrics-cost-password' }
  await off.inject({ method: 'POST', url: '/api/v1/users', payload: credentials })
  const token = (await off.inject({ method: 'POST', url: '/api/v1/auth/token', payload: credentials })).json<{ access_token: string }>().access_token
  const headers = { authorization: `Bearer ${token}` }
  const item = (await off.inject({ method: 'POST', url: '/api/v1/items', headers, payload: { name: 'metrics cost' } })).json<{ id: number }>()
  const path = `/api/v1/items/${item.id}`

  await cpuMicrosPerRequest(off, path, headers)
  await cpuMicrosPerRequest(on, path, headers)
  const offUs: number[] = []
  const onUs: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 ? [on, off] : [off, on]
    for (const app of order) (app === on ? onUs : offUs).push(await cpuMicrosPerRequest(app, path, headers))
  }
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!
  const f = (n: number) => n.toFixed(1)
  console.log(`metrics off, µs CPU per request: ${offUs.map(Math.round).join(' ')}`)
  console.log(`metrics on,  µs CPU per request: ${onUs.map(Math.round).join(' ')}`)
  console.log(`minimum: off ${f(Math.min(...offUs))}, on ${f(Math.min(...onUs))} (${f((Math.min(...onUs) / Math.min(...offUs) - 1) * 100)} %)`)
  const paired = median(offUs.map((v, i) => onUs[i]! - v))
  console.log(`median paired difference: ${f(paired)} µs (${f((paired / median(offUs)) * 100)} % of the median without metrics)`)
  await off.close()
  await on.close()
  await database.close()
} finally {
  await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
}
