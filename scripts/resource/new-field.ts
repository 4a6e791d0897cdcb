import { applyPlan, describePlan, diskRepo } from '../../src/resources/generator/apply.js'
import { GrammarError } from '../../src/resources/grammar.js'
import { declarationPath, planNewFields } from '../../src/resources/generator/plan.js'
import { assertKnownFlags, parseArgs, repoRoot, run } from './cli.js'

/** `npm run new:field -- <resource> <field>... [--dry-run]`: new fields, with a new migration pair. */
await run(() => {
  const { positional, flags } = parseArgs(process.argv.slice(2))
  assertKnownFlags(flags, ['dry-run'])
  const [name, ...fields] = positional
  if (!name) throw new GrammarError('usage: npm run new:field -- <resource> <field>... [--dry-run]')
  const plan = planNewFields(diskRepo(repoRoot), { name, fields })
  console.log(describePlan(plan, [`edit    ${declarationPath(name)}: + ${fields.join(' ')}`]))
  if (flags['dry-run']) {
    console.log('(dry run: nothing written)')
    return
  }
  applyPlan(repoRoot, plan, { edits: { [declarationPath(name)]: plan.declaration } })
})
