import { parseArgs } from 'node:util'
import { loadConfig } from '../config.js'
import { loadEnvFile } from '../shared/env-file.js'
import { createDatabase, type Database } from './client.js'
import { createMigrator } from './migrator.js'
import { seedDatabase } from './seed.js'

const USAGE = 'usage: cli.ts migrate | rollback [N] | status | seed [--items N] [--users M]'

const wholeNumber = (text: string | undefined, fallback: number, name: string, min: number): number => {
  const value = text === undefined ? fallback : Number(text)
  if (!Number.isInteger(value) || value < min) throw new Error(`${name} takes a whole number >= ${min}, got ${text}`)
  return value
}

/** `npm run db:migrate | db:rollback [-- N] | db:status | db:seed [-- --items N --users M]` */
async function run(database: Database, args: string[], bcryptRounds: number): Promise<void> {
  const migrator = createMigrator(database)
  const [command, ...rest] = args
  if (command === 'migrate') {
    const applied = await migrator.migrate()
    console.log(applied.length ? `applied: ${applied.join(', ')}` : 'up to date')
  } else if (command === 'rollback') {
    const undone = await migrator.rollback(wholeNumber(rest[0], 1, 'rollback', 1))
    console.log(undone.length ? `rolled back: ${undone.join(', ')}` : 'nothing to roll back')
  } else if (command === 'status') {
    for (const m of await migrator.status()) console.log(`${m.applied ? '[x]' : '[ ]'} ${String(m.version).padStart(4, '0')} ${m.name}`)
  } else if (command === 'seed') {
    const { values } = parseArgs({ args: rest, options: { items: { type: 'string' }, users: { type: 'string' } } })
    const started = Date.now()
    await migrator.migrate()
    const items = wholeNumber(values.items, 10_000, '--items', 0)
    const owners = await seedDatabase(database, {
      users: wholeNumber(values.users, 100, '--users', 1),
      items,
      bcryptRounds,
      onProgress: (done, total) => process.stderr.write(`\ritems ${done}/${total}`),
    })
    console.log(`\nseeded ${owners.length} users and ${items} items in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  } else {
    throw new Error(USAGE)
  }
}

async function main(): Promise<void> {
  loadEnvFile()
  const config = loadConfig()
  const database = await createDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, pooler: config.databasePooler, queryTimeoutMs: 0 })
  try {
    await run(database, process.argv.slice(2), config.bcryptRounds)
  } finally {
    await database.close()
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  process.exitCode = 1
})
