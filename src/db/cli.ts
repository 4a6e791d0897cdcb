import { loadEnvFile } from '../shared/env-file.js'
import { loadConfig } from '../config.js'
import { createDatabase } from './client.js'
import { createMigrator } from './migrator.js'

/** `npm run db:migrate | db:rollback [-- N] | db:status` */
async function main(command: string | undefined, arg: string | undefined): Promise<void> {
  loadEnvFile()
  const config = loadConfig()
  const database = await createDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, queryTimeoutMs: 0 })
  const migrator = createMigrator(database)
  try {
    if (command === 'migrate') {
      const applied = await migrator.migrate()
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'up to date')
    } else if (command === 'rollback') {
      const steps = arg === undefined ? 1 : Number(arg)
      if (!Number.isInteger(steps) || steps < 1) throw new Error(`rollback takes a positive whole number of steps, got ${arg}`)
      const undone = await migrator.rollback(steps)
      console.log(undone.length ? `rolled back: ${undone.join(', ')}` : 'nothing to roll back')
    } else if (command === 'status') {
      for (const m of await migrator.status()) console.log(`${m.applied ? '[x]' : '[ ]'} ${String(m.version).padStart(4, '0')} ${m.name}`)
    } else {
      throw new Error('usage: cli.ts migrate | rollback [N] | status')
    }
  } finally {
    await database.close()
  }
}

main(process.argv[2], process.argv[3]).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  process.exitCode = 1
})
