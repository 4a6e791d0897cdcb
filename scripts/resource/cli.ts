import { GrammarError } from '../../src/resources/grammar.js'
import { repoRoot } from '../openapi-document.js'

export { repoRoot }

/** Positional arguments and the flags given (`--parent x` takes a value). */
export function parseArgs(argv: string[], valueFlags: string[] = []) {
  const positional: string[] = []
  const flags: Record<string, string | true> = {}
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!
    if (!arg.startsWith('--')) positional.push(arg)
    else if (valueFlags.includes(arg.slice(2))) {
      const value = argv[++i]
      if (value === undefined || value.startsWith('--')) throw new GrammarError(`${arg} needs a value`)
      flags[arg.slice(2)] = value
    } else flags[arg.slice(2)] = true
  }
  return { positional, flags }
}

export function assertKnownFlags(flags: Record<string, unknown>, known: string[]): void {
  for (const flag of Object.keys(flags)) if (!known.includes(flag)) throw new GrammarError(`unknown option --${flag} (options: ${known.map((k) => `--${k}`).join(', ')})`)
}

/** Runs a generator command: bad input is one line on stderr and exit code 1, with nothing written. */
export async function run(main: () => void | Promise<void>): Promise<void> {
  try {
    await main()
  } catch (err) {
    if (err instanceof GrammarError) {
      console.error(`error: ${err.message}`)
      process.exit(1)
    }
    throw err
  }
}
