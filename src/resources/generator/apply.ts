import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { GrammarError } from '../grammar.js'
import type { Manifest, Plan, RepoView } from './plan.js'

/** The repository on disk, as the planner reads it. */
export function diskRepo(root: string): RepoView {
  return {
    read: (path) => (existsSync(join(root, path)) ? readFileSync(join(root, path), 'utf8') : undefined),
    list: (dir) => (existsSync(join(root, dir)) ? readdirSync(join(root, dir)) : []),
  }
}

/** `text` with `line` after the last line matching `after`, or at the end. */
export function insertLine(text: string, line: string, after?: RegExp): string {
  const lines = text.replace(/\n$/, '').split('\n')
  const index = after ? lines.findLastIndex((l) => after.test(l)) : -1
  if (after && index < 0) throw new GrammarError(`no line matches ${after} to insert "${line}" after`)
  lines.splice(after ? index + 1 : lines.length, 0, line)
  return `${lines.join('\n')}\n`
}

/** `text` without the first line equal to each of `lines`. */
export function removeLines(text: string, lines: readonly string[]): string {
  const current = text.split('\n')
  for (const line of lines) {
    const index = current.indexOf(line)
    if (index >= 0) current.splice(index, 1)
  }
  return current.join('\n')
}

/** Human-readable plan, as --dry-run prints it. */
export function describePlan(plan: Plan, extra: string[] = []): string {
  return [
    ...plan.writes.map((w) => `create  ${w.path}`),
    ...plan.inserts.map((i) => `edit    ${i.path}: + ${i.line.trim()}`),
    `write   ${plan.manifest.path}`,
    ...extra,
    'run     npm run client:generate',
  ].join('\n')
}

/**
 * Writes a plan; refuses to overwrite a file unless `force`. When regenerating the typed client fails, everything
 * written is put back as it was, so a failed run leaves nothing behind.
 */
export function applyPlan(root: string, plan: Plan, options: { force?: boolean; edits?: Record<string, string> } = {}): void {
  const repo = diskRepo(root)
  if (!options.force) {
    for (const write of plan.writes) if (repo.read(write.path) !== undefined) throw new GrammarError(`${write.path} already exists; pass --force to overwrite it`)
  }
  const before = new Map<string, string | undefined>()
  const put = (path: string, content: string) => {
    if (!before.has(path)) before.set(path, repo.read(path))
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
  }
  try {
    for (const write of plan.writes) put(write.path, write.content)
    for (const [path, content] of Object.entries(options.edits ?? {})) put(path, content)
    for (const insert of plan.inserts) put(insert.path, insertLine(repo.read(insert.path) ?? '', insert.line, insert.after))
    put(plan.manifest.path, renderManifest(plan.manifest.content))
    regenerateClient(root)
  } catch (err) {
    for (const [path, content] of [...before].reverse()) {
      if (content === undefined) rmSync(join(root, path), { force: true })
      else writeFileSync(join(root, path), content)
    }
    removeEmptyDirs(root, [...before.keys()])
    throw err
  }
}

/** The manifest, one line per part: a machine's file, kept short so the resource's folder stays small. */
export function renderManifest(manifest: Manifest): string {
  return `{\n  "resource": ${JSON.stringify(manifest.resource)},\n  "files": ${JSON.stringify(manifest.files)},\n  "lines": ${JSON.stringify(manifest.lines)}\n}\n`
}

/** `npm run client:generate` in a fresh process: it builds the OpenAPI document from the files just written. */
export function regenerateClient(root: string): void {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/generate-client.ts'], { cwd: root, encoding: 'utf8' })
  if (result.status !== 0) throw new Error(`regenerating the typed client failed:\n${result.stderr || result.stdout}`)
}

export function removeEmptyDirs(root: string, paths: readonly string[]): void {
  for (const dir of new Set(paths.map((p) => dirname(join(root, p))))) {
    if (existsSync(dir) && readdirSync(dir).length === 0) rmdirSync(dir)
  }
}
