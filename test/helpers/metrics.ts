import { spawnSync } from 'node:child_process'

/** Prometheus text → series (`name{labels}` exactly as printed) → value. */
export function parseMetrics(text: string): Map<string, number> {
  const series = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    series.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return series
}

/** `promtool check metrics` on `text`: its exit status and complaints; undefined when promtool is not installed. */
export function promtoolCheck(text: string): { status: number | null; output: string } | undefined {
  const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' })
  if (run.error && (run.error as NodeJS.ErrnoException).code === 'ENOENT') return undefined
  return { status: run.status, output: `${run.stdout}${run.stderr}` }
}

/** CI must lint the output; elsewhere a missing promtool skips that test (it says so). */
export const promtoolMissingOutsideCi = process.env.CI !== 'true' && promtoolCheck('') === undefined
