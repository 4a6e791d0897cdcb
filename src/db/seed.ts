import { parseArgs } from 'node:util'
import { sql } from 'drizzle-orm'
import { loadConfig } from '../config.js'
import { hashPassword } from '../modules/users/passwords.js'
import { loadEnvFile } from '../shared/env-file.js'
import { createDatabase } from './client.js'
import { createMigrator } from './migrator.js'

/**
 * `npm run db:seed -- --items 1000000 --users 100`: users seed-0001@example.com … (password `seed-password`)
 * and items spread evenly across them, generated inside PostgreSQL (INSERT … SELECT generate_series) in batches.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({ options: { items: { type: 'string', default: '10000' }, users: { type: 'string', default: '100' } } })
  const itemCount = Number(values.items)
  const userCount = Number(values.users)
  if (!Number.isInteger(itemCount) || itemCount < 0 || !Number.isInteger(userCount) || userCount < 1) {
    throw new Error('usage: db:seed -- --items N --users M (whole numbers, M >= 1)')
  }
  loadEnvFile()
  const config = loadConfig()
  const database = await createDatabase({ databaseUrl: config.databaseUrl, dataDir: config.dataDir, queryTimeoutMs: 0 })
  try {
    await createMigrator(database).migrate()
    const hash = await hashPassword('seed-password', config.bcryptRounds)
    const { db } = database
    const started = Date.now()
    await db.execute(sql`
      INSERT INTO users (email, hashed_password, full_name)
      SELECT format('seed-%s@example.com', lpad(n::text, 4, '0')), ${hash}, format('Seed user %s', n)
      FROM generate_series(1, ${sql.raw(String(userCount))}) AS n
      ON CONFLICT DO NOTHING`)
    const ids = (await db.execute(sql`SELECT id FROM users WHERE email LIKE 'seed-%@example.com' ORDER BY id LIMIT ${userCount}`)) as unknown as { rows: { id: number }[] }
    const owners = ids.rows.map((r) => r.id)
    const batch = 100_000
    for (let done = 0; done < itemCount; done += batch) {
      const size = Math.min(batch, itemCount - done)
      await db.execute(sql`
        INSERT INTO items (name, description, is_active, owner_id, created_at)
        SELECT format('Item %s %s', n, md5(n::text)), CASE WHEN n % 3 = 0 THEN NULL ELSE 'seeded' END, n % 5 <> 0,
               (${sql.raw(`ARRAY[${owners.join(',')}]`)})[1 + n % ${sql.raw(String(owners.length))}],
               now() - (n || ' seconds')::interval
        FROM generate_series(${sql.raw(String(done + 1))}, ${sql.raw(String(done + size))}) AS n`)
      process.stderr.write(`\ritems ${done + size}/${itemCount}`)
    }
    // VACUUM sets the visibility map, so counts and searches use index-only scans as autovacuum would later.
    await db.execute(sql`VACUUM ANALYZE items`)
    process.stderr.write('\n')
    console.log(`seeded ${owners.length} users and ${itemCount} items in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  } finally {
    await database.close()
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err)
  process.exitCode = 1
})
