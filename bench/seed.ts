import { sql } from 'drizzle-orm'
import { createDatabase, type Database } from '../src/db/client.js'
import { createMigrator } from '../src/db/migrator.js'
import { items as itemsResource } from '../src/modules/items/items.resource.js'
import { memberships, orgs } from '../src/modules/orgs/orgs.table.js'
import { createUsersService } from '../src/modules/users/users.service.js'
import type { BenchDatabase } from './database.js'

export interface SeedUser {
  id: number
  email: string
}

export interface SeedResult {
  password: string
  /** Owns the small item set: GET and PATCH by id, login. */
  reader: SeedUser
  /** Owns the big item set: the list scenarios. */
  lister: SeedUser
  /** Owns nothing at first: POST lands here so it does not change what the other scenarios read. */
  writer: SeedUser
  /** Hold the refresh-token pool, spread over several users (see scenarios.ts); their hashes are cost 4. */
  sessions: SeedUser[]
  readerItemIds: number[]
  listerItems: number
  /**
   * BENCH_RESOURCE (a generated resource shaped like items): its name, the reader's row ids, and the collection
   * URLs of the reader's and the lister's rows (an org resource's rows are in an org each of them owns).
   */
  resource?: { name: string; readerIds: number[]; readerPath: string; listerPath: string }
  /** A `q` that matches one item name in ten. */
  searchTerm: string
  searchMatches: number
}

const PASSWORD = 'bench-password-not-secret'
const COLOURS = ['amber', 'blue', 'coral', 'dune', 'ember', 'frost', 'gold', 'ivory', 'jade', 'lime']
const THINGS = ['notebook', 'lamp', 'kettle', 'chair', 'bottle', 'scarf', 'pencil']
const INSERT_CONCURRENCY = 8

/** A progress bar on stderr; a line per quarter when stderr is not a terminal (CI logs). */
function progress(label: string, total: number) {
  const tty = process.stderr.isTTY
  let done = 0
  let lastQuarter = -1
  let lastDraw = 0
  const draw = (force = false) => {
    if (tty) {
      const now = performance.now()
      if (!force && now - lastDraw < 100) return
      lastDraw = now
      const width = 30
      const filled = Math.round((done / total) * width)
      process.stderr.write(`\r  ${label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total}`)
    } else {
      const quarter = Math.floor((done / total) * 4)
      if (quarter !== lastQuarter) {
        lastQuarter = quarter
        process.stderr.write(`  ${label} ${done}/${total}\n`)
      }
    }
  }
  draw(true)
  return {
    tick() {
      done++
      draw(done === total)
    },
    end() {
      if (tty) process.stderr.write('\n')
    },
  }
}

async function inParallel(count: number, concurrency: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < count) await task(next++)
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane))
}

/**
 * Migrates the fresh database and fills it through the service layer (real hashing, real inserts), before Keel starts:
 * PGlite allows one process per data directory, and start-up is then measured as a restart on a populated database.
 */
export async function seed(target: BenchDatabase, options: { items: number; bcryptRounds: number }): Promise<SeedResult> {
  const database = await createDatabase({ databaseUrl: target.url, dataDir: target.dataDir, poolSize: INSERT_CONCURRENCY })
  try {
    await createMigrator(database).migrate()
    const users = createUsersService(database.db, { bcryptRounds: options.bcryptRounds })
    // The refresh pool needs ~70 logins; its users' hashes are made at cost 4 so minting it takes a fraction of a
    // second instead of several (bcrypt.compare follows the cost stored in the hash). The login scenario uses `reader`.
    const cheapUsers = createUsersService(database.db, { bcryptRounds: 4 })
    const items = itemsResource.repository(database.db)
    const names = ['reader', 'lister', 'writer', 'session-1', 'session-2', 'session-3', 'session-4']
    const bar = progress('users', names.length)
    const created: SeedUser[] = []
    for (const name of names) {
      const service = name.startsWith('session') ? cheapUsers : users
      const user = await service.signUp({ email: `bench-${name}@example.com`, password: PASSWORD, full_name: `Bench ${name}` })
      created.push({ id: user.id, email: user.email })
      bar.tick()
    }
    bar.end()
    const [reader, lister, writer, ...sessions] = created as [SeedUser, SeedUser, SeedUser, ...SeedUser[]]

    const insertItems = async (owner: SeedUser, count: number, label: string, repo = items, tenantId = owner.id): Promise<number[]> => {
      const ids: number[] = []
      const itemsBar = progress(label, count)
      await inParallel(count, INSERT_CONCURRENCY, async (i) => {
        const row = await repo.insert({ tenantId, userId: owner.id }, {
          name: `${COLOURS[i % COLOURS.length]} ${THINGS[i % THINGS.length]} ${i}`,
          description: i % 3 === 0 ? null : `Seeded item ${i} for the benchmark`,
          is_active: i % 5 !== 0,
        })
        ids.push(row.id)
        itemsBar.tick()
      })
      itemsBar.end()
      return ids.sort((a, b) => a - b)
    }
    const smallCount = Math.max(100, Math.round(options.items / 10))
    const readerItemIds = await insertItems(reader, smallCount, `items of ${reader.email}`)
    await insertItems(lister, options.items, `items of ${lister.email}`)
    const resource = await seedGeneratedResource(database, (repo, owner, count, label, tenantId) => insertItems(owner, count, label, repo, tenantId), reader, lister, smallCount, options.items)

    // Fresh planner statistics: without them the first scenarios would run on guessed row counts.
    await database.db.execute(sql`VACUUM ANALYZE`)
    return {
      password: PASSWORD,
      reader, lister, writer, sessions,
      readerItemIds,
      listerItems: options.items,
      resource,
      searchTerm: COLOURS[0]!,
      searchMatches: Math.ceil(options.items / COLOURS.length),
    }
  } finally {
    await database.close()
  }
}

type Insert = (repo: ReturnType<typeof itemsResource.repository>, owner: SeedUser, count: number, label: string, tenantId: number) => Promise<number[]>

/** The tenant a user's rows of `resource` go to: the user itself, or for an org resource an org it owns. */
async function tenantOf(database: Database, resource: typeof itemsResource, owner: SeedUser): Promise<{ tenantId: number; prefix: string }> {
  if (resource.scope.kind === 'user') return { tenantId: owner.id, prefix: '' }
  const [org] = await database.db.insert(orgs).values({ name: `bench ${owner.id}`, slug: `bench-${owner.id}-${Date.now()}` }).returning({ id: orgs.id })
  await database.db.insert(memberships).values({ org_id: org!.id, user_id: owner.id, role: 'owner' })
  return { tenantId: org!.id, prefix: `/orgs/${org!.id}` }
}

/**
 * With BENCH_RESOURCE=<name>, the same rows go into a generated resource with items' fields
 * (`name:string:search:sort 'description:string{1000}?' is_active:boolean=true`), so the two compare in one run.
 */
async function seedGeneratedResource(database: Database, insert: Insert, reader: SeedUser, lister: SeedUser, small: number, big: number) {
  const name = process.env.BENCH_RESOURCE
  if (!name) return undefined
  const module = (await import(`../src/modules/${name}/${name}.resource.js`)) as Record<string, typeof itemsResource>
  const resource = module[name]!
  const repo = resource.repository(database.db)
  const [readerTenant, listerTenant] = [await tenantOf(database, resource, reader), await tenantOf(database, resource, lister)]
  const readerIds = await insert(repo, reader, small, `${name} of ${reader.email}`, readerTenant.tenantId)
  await insert(repo, lister, big, `${name} of ${lister.email}`, listerTenant.tenantId)
  return { name, readerIds, readerPath: `/api/v1${readerTenant.prefix}/${name}`, listerPath: `/api/v1${listerTenant.prefix}/${name}` }
}
