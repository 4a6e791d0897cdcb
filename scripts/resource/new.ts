import { applyPlan, describePlan, diskRepo } from '../../src/resources/generator/apply.js'
import { GrammarError } from '../../src/resources/grammar.js'
import { planNewResource } from '../../src/resources/generator/plan.js'
import { assertKnownFlags, parseArgs, repoRoot, run } from './cli.js'

/** `npm run new:resource -- <plural_name> <field>... [--parent x] [--dry-run] [--force]` (docs/resources.md). */
await run(() => {
  const { positional, flags } = parseArgs(process.argv.slice(2), ['parent'])
  assertKnownFlags(flags, ['parent', 'dry-run', 'force'])
  const [name, ...fields] = positional
  if (!name) throw new GrammarError('usage: npm run new:resource -- <plural_name> <field>... [--parent x] [--dry-run] [--force]')
  const plan = planNewResource(diskRepo(repoRoot), {
    name, fields, parent: typeof flags.parent === 'string' ? flags.parent : undefined, force: flags.force === true,
  })
  console.log(describePlan(plan))
  if (flags['dry-run']) {
    console.log('(dry run: nothing written)')
    return
  }
  applyPlan(repoRoot, plan, { force: flags.force === true })
  console.log(`\n${name} is ready: run npm run db:migrate, then npm test -- src/modules/${name}`)
})
