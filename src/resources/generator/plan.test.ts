import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { GrammarError } from '../grammar.js'
import { applyPlan, describePlan, diskRepo, insertLine, removeLines, renderManifest } from './apply.js'
import { planDestroy, planNewFields, planNewResource, sha256, type RepoView } from './plan.js'

const APP = [
  "import { items } from './modules/items/items.resource.js'",
  "import { usersRoutes } from './modules/users/users.routes.js'",
  '',
  '    await api.register(items.routes)',
  '    for (const resource of resources) await api.register(resource.routes)',
  '',
].join('\n')

/** A repository in memory: paths to contents. */
function repoOf(files: Record<string, string>): RepoView {
  return {
    read: (path) => files[path],
    list: (dir) => [...new Set(Object.keys(files).filter((p) => p.startsWith(`${dir}/`)).map((p) => p.slice(dir.length + 1).split('/')[0]!))],
  }
}
const base = () => ({
  'src/app.ts': APP,
  'src/db/schema.ts': "import { items as itemsResource } from '../modules/items/items.resource.js'\n\nexport const items = itemsResource.table\n",
  'migrations/0001.do.init.sql': '', 'migrations/0001.undo.init.sql': '', 'migrations/0003.do.x.sql': '',
  'src/modules/items/items.resource.ts': "defineResource({ name: 'items', fields: ['name:string'], ownerKey: false })",
})
const refused = (fn: () => unknown, message: RegExp) => {
  expect(fn).toThrow(GrammarError)
  expect(fn).toThrow(message)
}

describe('planNewResource', () => {
  it('plans the declaration, its test, the next migration pair, four lines and a manifest of hashes', () => {
    const plan = planNewResource(repoOf(base()), { name: 'projects', fields: ['title:string:search:sort'] })
    expect(plan.writes.map((w) => w.path)).toEqual([
      'src/modules/projects/projects.resource.ts', 'src/modules/projects/projects.test.ts',
      'migrations/0004.do.projects.sql', 'migrations/0004.undo.projects.sql',
    ])
    expect(plan.writes[0]!.content).toContain("fields: [\n    'title:string:search:sort',\n  ],")
    expect(plan.writes[1]!.content).toContain('describeResource(projects)')
    expect(plan.writes[2]!.content).toContain('CREATE INDEX projects_owner_id_title_id_idx ON projects (owner_id, title, id);')
    expect(plan.inserts.map((i) => [i.path, i.line.trim()])).toEqual([
      ['src/app.ts', "import { projects as projectsResource } from './modules/projects/projects.resource.js'"],
      ['src/app.ts', 'await api.register(projectsResource.routes)'],
      ['src/db/schema.ts', "import { projects as projectsResource } from '../modules/projects/projects.resource.js'"],
      ['src/db/schema.ts', 'export const projects = projectsResource.table'],
    ])
    expect(plan.manifest.content.files['migrations/0004.undo.projects.sql']).toBe(sha256('DROP TABLE projects;\n'))
  })

  it('--parent adds the ref to the parent when the fields have none, and nests the declaration', () => {
    const repo = repoOf({ ...base(), 'src/modules/projects/projects.resource.ts': "defineResource({ fields: ['title:string'] })" })
    const plan = planNewResource(repo, { name: 'tasks', fields: ['title:string'], parent: 'projects' })
    expect(plan.writes[0]!.content).toContain("'project:ref{projects}',")
    expect(plan.writes[0]!.content).toContain("refs: { projects },\n  parent: 'projects',")
    expect(plan.writes[0]!.content).toContain("import { projects } from '../projects/projects.resource.js'")
    expect(plan.writes[2]!.content).toContain('FOREIGN KEY (project_id, owner_id) REFERENCES projects (id, owner_id)')
  })

  it.each([
    [{ name: 'items', fields: ['a:string'] }, /already exists/],
    [{ name: 'task', fields: ['a:string'] }, /must be a plural/],
    [{ name: 'Tasks', fields: ['a:string'] }, /snake_case/],
    [{ name: 'tasks', fields: [] }, /at least one field/],
    [{ name: 'tasks', fields: ['p:ref{projects}'] }, /no resource "projects"/],
    [{ name: 'tasks', fields: ['i:ref{items}'] }, /cannot be referenced/],
    [{ name: 'tasks', fields: ['t:ref{tasks}'] }, /cannot refer to itself/],
    [{ name: 'tasks', fields: ['a:string'], parent: 'nowhere' }, /no resource "nowhere"/],
    [{ name: 'tasks', fields: ['a:wat'] }, /unknown type/],
  ])('refuses %j', (args, message) => {
    refused(() => planNewResource(repoOf(base()), args), message)
  })

  it('keeps a 5-field resource\'s folder, tests aside, within 30 non-blank lines', () => {
    const repo = repoOf({ ...base(), 'src/modules/projects/projects.resource.ts': "defineResource({ fields: ['title:string'] })" })
    const plan = planNewResource(repo, {
      name: 'tasks', fields: ['title:string:search:sort', 'notes:text?', 'done:boolean=false', 'due_on:date?:sort', 'project:ref{projects}'], parent: 'projects',
    })
    const nonBlank = (text: string) => text.split('\n').filter((line) => line.trim()).length
    expect(nonBlank(plan.writes[0]!.content) + nonBlank(renderManifest(plan.manifest.content))).toBeLessThanOrEqual(30)
  })

  it('--scope org --access writes the scope and the rules into the declaration and an org-keyed migration', () => {
    const repo = repoOf({ ...base(), 'src/modules/boards/boards.resource.ts': "defineResource({\n  name: 'boards',\n  scope: 'org',\n  fields: ['t:string'] })" })
    const plan = planNewResource(repo, { name: 'cards', fields: ['title:string:unique'], parent: 'boards', scope: 'org', access: 'update=creator,delete=creator' })
    expect(plan.writes[0]!.content).toContain("  name: 'cards',\n  scope: 'org',\n  access: { update: 'creator', delete: 'creator' },\n  fields: [")
    const migration = plan.writes[2]!.content
    expect(migration).toContain('org_id integer NOT NULL CONSTRAINT cards_org_id_orgs_id_fk REFERENCES orgs (id) ON DELETE CASCADE')
    expect(migration).toContain('created_by integer CONSTRAINT cards_created_by_users_id_fk REFERENCES users (id) ON DELETE SET NULL')
    expect(migration).toContain('FOREIGN KEY (board_id, org_id) REFERENCES boards (id, org_id)')
    expect(migration).toContain('CREATE UNIQUE INDEX cards_org_id_title_key ON cards (org_id, title);')
    expect(migration).not.toContain('owner_id')
  })

  it.each([
    [{ scope: 'team' }, /unknown scope "team"/],
    [{ access: 'update=creator' }, /org resources only/],
    [{ scope: 'org', access: 'publish=admin' }, /unknown operation "publish"/],
    [{ scope: 'org', access: 'read=creator' }, /access read=creator/],
    [{ scope: 'org', access: 'delete=boss' }, /access delete=boss/],
    [{ scope: 'org', access: 'update' }, /--access update: give/],
    [{ scope: 'org', access: 'update=admin,update=owner' }, /given twice/],
    [{ scope: 'org', fields: ['i:ref{items}'] }, /items is user-scoped and cards org-scoped/],
    [{ fields: ['b:ref{boards}'] }, /boards is org-scoped and cards user-scoped/],
  ])('refuses scope and access errors: %j', (extra, message) => {
    const repo = repoOf({ ...base(), 'src/modules/boards/boards.resource.ts': "defineResource({\n  name: 'boards',\n  scope: 'org',\n  fields: ['t:string'] })" })
    refused(() => planNewResource(repo, { name: 'cards', fields: ['a:string'], ...extra }), message)
  })

  it('--force plans over an existing resource', () => {
    expect(planNewResource(repoOf(base()), { name: 'items', fields: ['a:string'], force: true }).writes).toHaveLength(4)
  })
})

describe('planNewFields', () => {
  it('keys an org resource\'s new indexes by org_id', () => {
    const repo = repoOf({ ...base(), 'src/modules/boards/boards.resource.ts': "x({\n  name: 'boards',\n  scope: 'org',\n  fields: [\n    'title:string',\n  ],\n})\n" })
    const plan = planNewFields(repo, { name: 'boards', fields: ['rank:integer?:sort', 'code:string?:unique'] })
    expect(plan.writes[0]!.content).toContain('CREATE INDEX boards_org_id_rank_id_idx ON boards (org_id, rank, id);')
    expect(plan.writes[0]!.content).toContain('CREATE UNIQUE INDEX boards_org_id_code_key ON boards (org_id, code);')
  })

  const repo = () => repoOf({ ...base(), 'src/modules/projects/projects.resource.ts': "x({\n  fields: [\n    'title:string',\n  ],\n})\n" })

  it('adds the fields to the declaration and plans a migration pair with the next number', () => {
    const plan = planNewFields(repo(), { name: 'projects', fields: ['rank:integer?:sort', 'done:boolean=false'] })
    expect(plan.declaration).toBe("x({\n  fields: [\n    'title:string',\n    'rank:integer?:sort',\n    'done:boolean=false',\n  ],\n})\n")
    expect(plan.writes.map((w) => w.path)).toEqual(['migrations/0004.do.projects-add-rank-done.sql', 'migrations/0004.undo.projects-add-rank-done.sql'])
    expect(plan.writes[0]!.content).toContain('ALTER TABLE projects ADD COLUMN done boolean NOT NULL DEFAULT false;')
    expect(plan.writes[0]!.content).toContain('CREATE INDEX projects_owner_id_rank_id_idx ON projects (owner_id, rank, id);')
    expect(plan.writes[1]!.content).toBe('ALTER TABLE projects DROP COLUMN rank;\nALTER TABLE projects DROP COLUMN done;\n')
  })

  it('gives a :search field its trigram index, led by the owner', () => {
    const plan = planNewFields(repo(), { name: 'projects', fields: ['summary:text?:search'] })
    expect(plan.writes[0]!.content).toContain('CREATE EXTENSION IF NOT EXISTS pg_trgm;\nCREATE EXTENSION IF NOT EXISTS btree_gin;\n'
      + 'CREATE INDEX projects_owner_id_summary_trgm_idx ON projects USING gin (owner_id, summary gin_trgm_ops);')
  })

  it('leads an org resource\'s trigram index by org_id', () => {
    const repo = repoOf({ ...base(), 'src/modules/boards/boards.resource.ts': "x({\n  name: 'boards',\n  scope: 'org',\n  fields: [\n    'title:string',\n  ],\n})\n" })
    const plan = planNewFields(repo, { name: 'boards', fields: ['summary:text?:search'] })
    expect(plan.writes[0]!.content).toContain('CREATE INDEX boards_org_id_summary_trgm_idx ON boards USING gin (org_id, summary gin_trgm_ops);')
  })

  it('fills existing rows of a datetime from its default, then keeps no column default', () => {
    const plan = planNewFields(repo(), { name: 'projects', fields: ['at:datetime=2026-01-01T00:00:00Z'] })
    expect(plan.writes[0]!.content).toContain("ADD COLUMN at timestamp with time zone NOT NULL DEFAULT '2026-01-01T00:00:00Z';\nALTER TABLE projects ALTER COLUMN at DROP DEFAULT;")
  })

  it.each([
    [{ name: 'nowhere', fields: ['a:string?'] }, /no resource "nowhere"/],
    [{ name: 'projects', fields: ['size:integer'] }, /required: existing rows need a default/],
    [{ name: 'projects', fields: ['title:text?'] }, /given twice/],
    [{ name: 'projects', fields: ['p:ref{projects}?'] }, /cannot add a ref/],
    [{ name: 'projects', fields: [] }, /at least one field/],
  ])('refuses %j', (args, message) => {
    refused(() => planNewFields(repo(), args), message)
  })
})

describe('planDestroy', () => {
  const declaration = "defineResource({ fields: ['title:string'] })"
  const manifest = JSON.stringify({
    resource: 'projects', files: { 'src/modules/projects/projects.resource.ts': sha256(declaration) }, lines: { 'src/app.ts': ['x'] },
  })
  const files = { ...base(), 'src/modules/projects/projects.resource.ts': declaration, 'src/modules/projects/projects.manifest.json': manifest }

  it('removes what the manifest lists, and the manifest', () => {
    expect(planDestroy(repoOf(files), { name: 'projects' })).toEqual({
      remove: ['src/modules/projects/projects.resource.ts', 'src/modules/projects/projects.manifest.json'], lines: { 'src/app.ts': ['x'] },
    })
  })

  it('refuses a file changed since, unless forced', () => {
    const changed = { ...files, 'src/modules/projects/projects.resource.ts': `${declaration}\n// mine` }
    refused(() => planDestroy(repoOf(changed), { name: 'projects' }), /changed since it was generated; pass --force/)
    expect(planDestroy(repoOf(changed), { name: 'projects', force: true }).remove).toHaveLength(2)
  })

  it('refuses while another resource refers to it, and for a resource it did not generate', () => {
    const referenced = { ...files, 'src/modules/tasks/tasks.resource.ts': "x({ fields: [\n  'p:ref{projects,cascade}',\n] })" }
    refused(() => planDestroy(repoOf(referenced), { name: 'projects' }), /"tasks" refers to projects/)
    refused(() => planDestroy(repoOf(files), { name: 'items' }), /was not generated here/)
  })
})

describe('insertLine and removeLines', () => {
  it('insert after the last matching line and remove exactly that line again', () => {
    const edited = insertLine(APP, '    await api.register(tasksResource.routes)', /^ {4}await api\.register\(\w+\.routes\)$/)
    expect(edited.split('\n')[4]).toBe('    await api.register(tasksResource.routes)')
    expect(removeLines(edited, ['    await api.register(tasksResource.routes)'])).toBe(APP)
    expect(() => insertLine('a\n', 'b', /^nothing$/)).toThrow(GrammarError)
  })
})

describe('applyPlan', () => {
  it('writes nothing over an existing file, and restores everything when the client cannot be regenerated', () => {
    const root = mkdtempSync(join(tmpdir(), 'keel-apply-'))
    const files = base()
    for (const [path, content] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true })
      writeFileSync(join(root, path), content)
    }
    const plan = planNewResource(diskRepo(root), { name: 'projects', fields: ['title:string'] })
    // No scripts/generate-client.ts in this tree: the last step fails, and the run must leave no trace.
    expect(() => applyPlan(root, plan)).toThrow(/regenerating the typed client failed/)
    for (const [path, content] of Object.entries(files)) expect(readFileSync(join(root, path), 'utf8')).toBe(content)
    expect(existsSync(join(root, 'src/modules/projects'))).toBe(false)
    expect(existsSync(join(root, 'migrations/0004.do.projects.sql'))).toBe(false)

    writeFileSync(join(root, 'migrations/0004.do.projects.sql'), 'mine')
    expect(() => applyPlan(root, plan)).toThrow(/already exists; pass --force/)
    expect(readFileSync(join(root, 'migrations/0004.do.projects.sql'), 'utf8')).toBe('mine')
    expect(describePlan(plan)).toContain('create  src/modules/projects/projects.resource.ts')
    const manifest = renderManifest(plan.manifest.content)
    expect(JSON.parse(manifest)).toEqual(plan.manifest.content)
    expect(manifest.split('\n').filter(Boolean)).toHaveLength(5)
  })
})
