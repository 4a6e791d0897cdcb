import { applyPlan, describePlan, diskRepo } from '../../src/resources/generator/apply.js'
import { GrammarError } from '../../src/resources/grammar.js'
import { planNewResource } from '../../src/resources/generator/plan.js'
import { assertKnownFlags, parseArgs, repoRoot, run } from './cli.js'

const USAGE = 'usage: npm run new:resource -- <plural_name> <field>... [--scope user|org] [--access <op>=<role|creator>,…] [--parent x] [--dry-run] [--force]'
const text = (value: string | true | undefined) => (typeof value === 'string' ? value : undefined)

/** `npm run new:resource -- <plural_name> <field>... [--scope org] [--access …] [--parent x] [--dry-run] [--force]` (docs/resources.md). */
await run(() => {
  const { positional, flags } = parseArgs(process.argv.slice(2), ['parent', 'scope', 'access'])
  assertKnownFlags(flags, ['parent', 'scope', 'access', 'dry-run', 'force'])
  const [name, ...fields] = positional
  if (!name) throw new GrammarError(USAGE)
  const plan = planNewResource(diskRepo(repoRoot), {
    name, fields, parent: text(flags.parent), scope: text(flags.scope), access: text(flags.access), force: flags.force === true,
  })
  console.log(describePlan(plan))
  if (flags['dry-run']) {
    console.log('(dry run: nothing written)')
    return
  }
  applyPlan(repoRoot, plan, { force: flags.force === true })
  console.log(`\n${name} is ready: run npm run db:migrate, then npm test -- src/modules/${name}`)
})
