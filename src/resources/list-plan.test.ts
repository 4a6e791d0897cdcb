import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { buildTestApp, type TestApp } from '../../test/helpers/app.js'
import { createUser, type TestUser } from '../../test/helpers/factories.js'
import { boards, fixtureMigrationsDir, fixtureResources } from '../../test/fixtures/resources.js'
import { createOrg } from '../../test/helpers/orgs.js'

// What a list page's statement is planned as on skewed data: one owner's rows first in the table, then ten times
// as many of another's (the bench's reader and lister), and the same for two orgs' rows of a generated org resource.
// Left to the planner, the big tenant's first page by id walked the primary key and filtered out every row of the
// small tenant before its first match (issue 21).
let t: TestApp
let early: TestUser
let late: TestUser
let lateOrg: number
beforeAll(async () => {
  t = await buildTestApp({}, { resources: fixtureResources, migrationsDir: fixtureMigrationsDir() })
  early = await createUser(t.app)
  late = await createUser(t.app)
  for (const [user, count] of [[early, 300], [late, 3_000]] as const) {
    await t.database.db.execute(sql`insert into items (name, owner_id) select 'item ' || n, ${user.id} from generate_series(1, ${count}) n`)
  }
  const earlyOrg = (await createOrg(t.app, early)).id
  lateOrg = (await createOrg(t.app, late)).id
  for (const [org, count] of [[earlyOrg, 300], [lateOrg, 3_000]] as const) {
    await t.database.db.execute(sql.raw(`insert into ${boards.name} (title, slug, org_id) select 'board ' || n, 's' || n, ${org} from generate_series(1, ${count}) n`))
  }
  for (const table of ['items', boards.name]) await t.database.db.execute(sql.raw(`analyze ${table}`))
})
afterAll(async () => t.close())

interface Sent { text: string; values: unknown[] }

/** The driver's client under Drizzle: node-postgres' pool (query({ name, text }, values)) or PGlite (query(text, values)). */
const driver = () => (t.database.db as unknown as { session: { client: { query: (...args: unknown[]) => Promise<unknown> } } }).session.client

/** The page statement `url` sends to the database (a list of `table`), and its plan for the same parameters. */
async function planOf(url: string, table = 'items'): Promise<string> {
  const client = driver()
  const query = vi.spyOn(client, 'query')
  const res = await t.app.inject({ url, headers: late.headers })
  const sent = query.mock.calls.map(([first, values]): Sent => ({ text: typeof first === 'string' ? first : (first as Sent).text, values: values as unknown[] }))
  query.mockRestore()
  expect(res.statusCode).toBe(200)
  expect(res.json().items).toHaveLength(20)
  const page = sent.filter(({ text }) => text.includes(`from "${table}"`) && /\blimit\b/.test(text))
  expect(page).toHaveLength(1)
  const explained = (await client.query(`explain ${page[0]!.text}`, page[0]!.values)) as { rows: Record<string, string>[] }
  return explained.rows.map((row) => Object.values(row)[0]).join('\n')
}

describe('a list page walks the owner\'s index in the sort\'s order', () => {
  it.each([
    ['first cursor page by id', '/api/v1/items?limit=20&sort=id&cursor='],
    ['first cursor page by -id', '/api/v1/items?limit=20&sort=-id&cursor='],
    ['offset page by id', '/api/v1/items?limit=20&sort=id'],
  ])('%s: items_owner_id_id_idx, not the primary key with a filter', async (_name, url) => {
    const plan = await planOf(url)
    expect(plan).toContain('items_owner_id_id_idx')
    expect(plan).not.toContain('items_pkey')
  })

  it.each([
    ['first cursor page by id', 'sort=id&cursor=', `${boards.name}_org_id_id_idx`],
    ['offset page by -size', 'sort=-size', `${boards.name}_org_id_size_id_idx`],
  ])('an org resource, %s: the (org_id, …, id) index, not the primary key', async (_name, query, index) => {
    const plan = await planOf(`/api/v1/orgs/${lateOrg}/${boards.name}?limit=20&${query}`, boards.name)
    expect(plan).toContain(index)
    expect(plan).not.toContain(`${boards.name}_pkey`)
  })

  it('a later cursor page too', async () => {
    const first = await t.app.inject({ url: '/api/v1/items?limit=20&sort=id&cursor=', headers: late.headers })
    const plan = await planOf(`/api/v1/items?limit=20&sort=id&cursor=${first.json().next_cursor as string}`)
    expect(plan).toContain('items_owner_id_id_idx')
    expect(plan).not.toContain('items_pkey')
  })
})
