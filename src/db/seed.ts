import { sql } from 'drizzle-orm'
import { hashPassword } from '../modules/users/passwords.js'
import type { Database } from './client.js'

export interface SeedOptions {
  users: number
  items: number
  bcryptRounds: number
  onProgress?: (done: number, total: number) => void
}

const BATCH = 100_000

/**
 * Users seed-0001@example.com … (password `seed-password`) and items spread evenly across them, generated
 * inside PostgreSQL (INSERT … SELECT generate_series) in batches, so a million rows take a minute, not an hour.
 * Returns the seeded users' ids.
 */
export async function seedDatabase(database: Database, options: SeedOptions): Promise<number[]> {
  const { db } = database
  const hash = await hashPassword('seed-password', options.bcryptRounds)
  // Values are validated integers, inlined so PostgreSQL knows their types in generate_series and array indexing.
  const int = (n: number) => sql.raw(String(Math.trunc(n)))
  await db.execute(sql`
    INSERT INTO users (email, hashed_password, full_name)
    SELECT format('seed-%s@example.com', lpad(n::text, 4, '0')), ${hash}, format('Seed user %s', n)
    FROM generate_series(1, ${int(options.users)}) AS n
    ON CONFLICT DO NOTHING`)
  const result = await db.execute(sql`SELECT id FROM users WHERE email LIKE 'seed-%@example.com' ORDER BY id LIMIT ${int(options.users)}`)
  const owners = (result as unknown as { rows: { id: number }[] }).rows.map((r) => r.id)
  for (let done = 0; done < options.items; done += BATCH) {
    const size = Math.min(BATCH, options.items - done)
    await db.execute(sql`
      INSERT INTO items (name, description, is_active, owner_id, created_at)
      SELECT format('Item %s %s', n, md5(n::text)), CASE WHEN n % 3 = 0 THEN NULL ELSE 'seeded' END, n % 5 <> 0,
             (${sql.raw(`ARRAY[${owners.join(',')}]`)})[1 + n % ${int(owners.length)}],
             now() - (n || ' seconds')::interval
      FROM generate_series(${int(done + 1)}, ${int(done + size)}) AS n`)
    options.onProgress?.(done + size, options.items)
  }
  // VACUUM sets the visibility map, so counts and searches use index-only scans as autovacuum would later.
  await db.execute(sql`VACUUM ANALYZE items`)
  return owners
}
