import { createHash } from 'node:crypto'
import { GrammarError, assertName, parseFields, singularOf } from '../grammar.js'
import { scopeOf, type Access, type ScopeKind } from '../scope.js'
import { renderAddFieldsMigration, renderCreateMigration } from './migration.js'
import { appLines, quote, renderDeclaration, renderTest, schemaLines } from './render.js'

/** What the planner may read of the repository (the real one, or a map in tests). */
export interface RepoView {
  read(path: string): string | undefined
  list(dir: string): string[]
}

/** Files to write whole, and lines to insert after an anchor line (or at the end) of existing files. */
export interface Plan {
  writes: { path: string; content: string }[]
  inserts: { path: string; line: string; after?: RegExp }[]
  /** The manifest destroy:resource reads: what was written (by hash) and which lines were added where. */
  manifest: { path: string; content: Manifest }
}

export interface Manifest {
  resource: string
  files: Record<string, string>
  lines: Record<string, string[]>
}

export const APP = 'src/app.ts'
export const SCHEMA = 'src/db/schema.ts'
export const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')
export const moduleDir = (name: string) => `src/modules/${name}`
export const declarationPath = (name: string) => `${moduleDir(name)}/${name}.resource.ts`
export const manifestPath = (name: string) => `${moduleDir(name)}/${name}.manifest.json`

/** The next free migration number, as four digits. */
export function nextMigrationNumber(repo: RepoView): string {
  const numbers = repo.list('migrations').map((file) => Number(/^(\d+)\./.exec(file)?.[1] ?? 0))
  return String(Math.max(0, ...numbers) + 1).padStart(4, '0')
}

/** The field texts of an existing declaration (undefined: no such resource). */
export function declaredFields(repo: RepoView, name: string): string[] | undefined {
  const text = repo.read(declarationPath(name))
  if (text === undefined) return undefined
  const block = /fields: \[([\s\S]*?)\]/.exec(text)?.[1] ?? ''
  return [...block.matchAll(/'((?:[^'\\]|\\.)*)'/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'))
}

export interface NewResourceArgs {
  name: string
  fields: string[]
  parent?: string
  /** `user` (default) or `org`. */
  scope?: string
  /** `--access` as given: `update=creator,delete=admin`. */
  access?: string
  force?: boolean
}

/** The scope a declaration's text asks for (`scope: 'org'`), the default being user. */
export const declaredScope = (declaration: string): ScopeKind => (/^ {2}scope: 'org',$/m.test(declaration) ? 'org' : 'user')

/** `update=creator,delete=admin` → `{ update: 'creator', delete: 'admin' }`, checked against the scope's rules. */
function parseAccessFlag(name: string, scope: string | undefined, text: string | undefined): Partial<Access> | undefined {
  if (text === undefined) {
    scopeOf(name, scope ?? 'user')
    return undefined
  }
  const rules: Record<string, string> = {}
  for (const pair of text.split(',')) {
    const match = /^([a-z]+)=([a-z]+)$/.exec(pair.trim())
    if (!match) throw new GrammarError(`--access ${text}: give <operation>=<role|creator>[,…], e.g. update=creator,delete=admin`)
    if (match[1]! in rules) throw new GrammarError(`--access ${text}: ${match[1]} is given twice`)
    rules[match[1]!] = match[2]!
  }
  scopeOf(name, scope ?? 'user', rules)
  return rules as Partial<Access>
}

/** Validates `new:resource` input against the repository and plans every file and line it writes. */
export function planNewResource(repo: RepoView, args: NewResourceArgs): Plan {
  const { name, parent } = args
  assertName(name, 'resource')
  if (singularOf(name) === name) throw new GrammarError(`resource "${name}" must be a plural (e.g. ${name}s): its singular names the ref fields`)
  if (!args.force && (repo.read(declarationPath(name)) !== undefined || repo.list(moduleDir(name)).length > 0)) {
    throw new GrammarError(`resource "${name}" already exists (${moduleDir(name)}); pick another name or pass --force`)
  }
  if (args.fields.length === 0) throw new GrammarError('give at least one field, e.g. title:string:search:sort')
  const access = parseAccessFlag(name, args.scope, args.access)
  const scope: ScopeKind = args.scope === 'org' ? 'org' : 'user'
  const texts = [...args.fields]
  let fields = parseFields(texts)
  if (parent !== undefined && !fields.some((f) => f.ref?.resource === parent)) {
    texts.push(`${singularOf(parent)}:ref{${parent}}`)
    fields = parseFields(texts)
  }
  const refs = [...new Set(fields.filter((f) => f.ref).map((f) => f.ref!.resource))]
  for (const ref of refs) assertReferable(repo, ref, name, scope)
  if (parent !== undefined && !refs.includes(parent)) throw new GrammarError(`--parent ${parent} is not a resource`)

  const number = nextMigrationNumber(repo)
  const migration = renderCreateMigration(name, fields, scope)
  const app = appLines(name)
  const schema = schemaLines(name)
  const writes = [
    { path: declarationPath(name), content: renderDeclaration({ name, fieldTexts: texts, refs, parent, scope, access }) },
    { path: `${moduleDir(name)}/${name}.test.ts`, content: renderTest(name) },
    { path: `migrations/${number}.do.${name}.sql`, content: migration.do },
    { path: `migrations/${number}.undo.${name}.sql`, content: migration.undo },
  ]
  const inserts = [
    { path: APP, line: app.importLine, after: /^import .* from '\.\/modules\/.*'$/ },
    { path: APP, line: app.registerLine, after: /^ {4}await api\.register\(\w+\.routes\)$/ },
    { path: SCHEMA, line: schema.importLine, after: /^import .*$/ },
    { path: SCHEMA, line: schema.exportLine },
  ]
  return { writes, inserts, manifest: manifestOf(name, writes, inserts) }
}

function assertReferable(repo: RepoView, ref: string, name: string, scope: ScopeKind): void {
  if (ref === name) throw new GrammarError(`ref{${ref}}: a resource cannot refer to itself`)
  const declaration = repo.read(declarationPath(ref))
  if (declaration === undefined) throw new GrammarError(`ref{${ref}}: there is no resource "${ref}" (${declarationPath(ref)} does not exist)`)
  if (declaredScope(declaration) !== scope) {
    throw new GrammarError(`ref{${ref}}: ${ref} is ${declaredScope(declaration)}-scoped and ${name} ${scope}-scoped; a ref stays within one scope`)
  }
  if (/ownerKey: false/.test(declaration)) throw new GrammarError(`ref{${ref}}: ${ref} has no (owner_id, id) key, so it cannot be referenced`)
}

const manifestOf = (name: string, writes: Plan['writes'], inserts: Plan['inserts']): Plan['manifest'] => {
  const lines: Record<string, string[]> = {}
  for (const insert of inserts) (lines[insert.path] ??= []).push(insert.line)
  return {
    path: manifestPath(name),
    content: { resource: name, files: Object.fromEntries(writes.map((w) => [w.path, sha256(w.content)])), lines },
  }
}

/** Validates `new:field` input and plans the migration pair and the declaration's new lines. */
export function planNewFields(repo: RepoView, args: { name: string; fields: string[] }): Plan & { declaration: string } {
  const { name } = args
  const existing = declaredFields(repo, name)
  if (existing === undefined) throw new GrammarError(`there is no resource "${name}" (${declarationPath(name)} does not exist)`)
  if (args.fields.length === 0) throw new GrammarError('give at least one field to add')
  const all = parseFields([...existing, ...args.fields])
  const added = all.slice(existing.length)
  for (const field of added) {
    if (field.ref) throw new GrammarError(`field "${field.name}": new:field cannot add a ref; give refs when the resource is created`)
    if (!field.optional && field.default === undefined) {
      throw new GrammarError(`field "${field.name}" is required: existing rows need a default (add =value) or make it optional (?)`)
    }
  }
  const declaration = repo.read(declarationPath(name))!
  const anchor = declaration.lastIndexOf('\n  ],')
  if (anchor < 0) throw new GrammarError(`${declarationPath(name)} has no fields: [...] block to add to`)
  const updated = `${declaration.slice(0, anchor)}\n${args.fields.map((t) => `    ${quote(t)},`).join('\n')}${declaration.slice(anchor)}`
  const number = nextMigrationNumber(repo)
  const label = `${name}-add-${added.map((f) => f.name).join('-')}`.slice(0, 60)
  const migration = renderAddFieldsMigration(name, added, declaredScope(declaration))
  const writes = [
    { path: `migrations/${number}.do.${label}.sql`, content: migration.do },
    { path: `migrations/${number}.undo.${label}.sql`, content: migration.undo },
  ]
  const manifest = parseManifest(repo, name)
  const content: Manifest = manifest
    ? { ...manifest, files: { ...manifest.files, [declarationPath(name)]: sha256(updated), ...Object.fromEntries(writes.map((w) => [w.path, sha256(w.content)])) } }
    : { resource: name, files: {}, lines: {} }
  return { writes, inserts: [], manifest: { path: manifestPath(name), content }, declaration: updated }
}

export function parseManifest(repo: RepoView, name: string): Manifest | undefined {
  const text = repo.read(manifestPath(name))
  return text === undefined ? undefined : (JSON.parse(text) as Manifest)
}

/** What destroy:resource removes, refusing when a file changed since it was written (unless forced). */
export function planDestroy(repo: RepoView, args: { name: string; force?: boolean }): { remove: string[]; lines: Record<string, string[]> } {
  const manifest = parseManifest(repo, args.name)
  if (!manifest) throw new GrammarError(`resource "${args.name}" was not generated here (${manifestPath(args.name)} does not exist)`)
  for (const other of repo.list('src/modules')) {
    if (other === args.name) continue
    if ((declaredFields(repo, other) ?? []).some((f) => new RegExp(`:ref\\{${args.name}[,}]`).test(f))) {
      throw new GrammarError(`resource "${other}" refers to ${args.name}: destroy ${other} first`)
    }
  }
  if (!args.force) {
    for (const [path, hash] of Object.entries(manifest.files)) {
      const text = repo.read(path)
      if (text !== undefined && sha256(text) !== hash) throw new GrammarError(`${path} changed since it was generated; pass --force to remove it anyway`)
    }
  }
  return { remove: [...Object.keys(manifest.files), manifestPath(args.name)], lines: manifest.lines }
}
