import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { diskRepo, regenerateClient, removeEmptyDirs, removeLines } from '../../src/resources/generator/apply.js'
import { GrammarError } from '../../src/resources/grammar.js'
import { planDestroy } from '../../src/resources/generator/plan.js'
import { assertKnownFlags, parseArgs, repoRoot, run } from './cli.js'

/**
 * `npm run destroy:resource -- <name> [--force] [--dry-run]`: removes exactly what new:resource and new:field wrote
 * (its manifest lists it), refusing when a file changed since. Roll its migrations back first on a live database.
 */
await run(() => {
  const { positional, flags } = parseArgs(process.argv.slice(2))
  assertKnownFlags(flags, ['force', 'dry-run'])
  const [name] = positional
  if (!name) throw new GrammarError('usage: npm run destroy:resource -- <name> [--force] [--dry-run]')
  const repo = diskRepo(repoRoot)
  const plan = planDestroy(repo, { name, force: flags.force === true })
  for (const path of plan.remove) console.log(`remove  ${path}`)
  for (const [path, lines] of Object.entries(plan.lines)) for (const line of lines) console.log(`edit    ${path}: - ${line.trim()}`)
  console.log('run     npm run client:generate')
  if (flags['dry-run']) {
    console.log('(dry run: nothing removed)')
    return
  }
  for (const [path, lines] of Object.entries(plan.lines)) writeFileSync(join(repoRoot, path), removeLines(repo.read(path) ?? '', lines))
  for (const path of plan.remove) rmSync(join(repoRoot, path), { force: true })
  removeEmptyDirs(repoRoot, plan.remove)
  regenerateClient(repoRoot)
})
