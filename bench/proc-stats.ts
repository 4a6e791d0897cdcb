import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'

/** One line of /proc/<pid>/stat, the fields the bench needs. Linux only: elsewhere the CPU and RSS columns stay empty. */
interface ProcStat {
  pid: number
  comm: string
  ppid: number
  /** utime + stime, in clock ticks. */
  cpuTicks: number
  rssBytes: number
}

function getconf(name: string, fallback: number): number {
  try {
    return Number(execFileSync('getconf', [name], { encoding: 'utf8' }).trim()) || fallback
  } catch {
    return fallback
  }
}

/** False off Linux: the CPU and RSS figures are then reported as unknown rather than zero. */
export const hasProcfs = existsSync('/proc/self/stat')

const CLOCK_TICKS = getconf('CLK_TCK', 100)
const PAGE_SIZE = getconf('PAGESIZE', 4096)

function readStat(pid: number): ProcStat | undefined {
  let text: string
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined // the process ended between listing and reading
  }
  // comm is in parentheses and may contain spaces: the numeric fields start after the last ')'.
  const close = text.lastIndexOf(')')
  const comm = text.slice(text.indexOf('(') + 1, close)
  const fields = text.slice(close + 2).split(' ')
  const num = (field: number) => Number(fields[field - 3])
  return { pid, comm, ppid: num(4), cpuTicks: num(14) + num(15), rssBytes: num(24) * PAGE_SIZE }
}

function allStats(): ProcStat[] {
  let names: string[]
  try {
    names = readdirSync('/proc')
  } catch {
    return []
  }
  return names.filter((n) => /^\d+$/.test(n)).map((n) => readStat(Number(n))).filter((s): s is ProcStat => s !== undefined)
}

/** `root` and all its descendants (the cluster primary and its workers). */
export function processTree(root: number): ProcStat[] {
  const stats = allStats()
  const inTree = new Set([root])
  // Parents may be listed after their children: repeat until the set stops growing.
  for (let grew = true; grew;) {
    grew = false
    for (const s of stats) {
      if (!inTree.has(s.pid) && inTree.has(s.ppid)) {
        inTree.add(s.pid)
        grew = true
      }
    }
  }
  return stats.filter((s) => inTree.has(s.pid))
}

/** Every PostgreSQL server process on the machine (backends, walwriter, checkpointer...). */
export function postgresProcesses(): ProcStat[] {
  return allStats().filter((s) => s.comm === 'postgres' || s.comm === 'postmaster')
}

/**
 * CPU seconds of each process of a set over a stretch of time. The set is re-listed at the end, so processes started
 * meanwhile count from zero; processes gone meanwhile lose their share (rare: pools keep their connections).
 */
export function startCpuMeter(list: () => ProcStat[]): () => Map<number, number> {
  const before = new Map(list().map((s) => [s.pid, s.cpuTicks]))
  return () => new Map(list().map((s) => [s.pid, (s.cpuTicks - (before.get(s.pid) ?? 0)) / CLOCK_TICKS]))
}

export const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0)

/** Samples the RSS of a process tree while load runs and keeps each process's peak. */
export function startRssSampler(root: number, everyMs = 250): () => Map<number, number> {
  const peaks = new Map<number, number>()
  const sample = () => {
    for (const s of processTree(root)) peaks.set(s.pid, Math.max(peaks.get(s.pid) ?? 0, s.rssBytes))
  }
  sample()
  const timer = setInterval(sample, everyMs)
  return () => {
    clearInterval(timer)
    sample()
    return peaks
  }
}

/** Busy and total CPU ticks of the whole machine, from the first line of /proc/stat. */
function machineTicks(): { busy: number; total: number } | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1, 9).map(Number)
    const total = sum(fields)
    const idle = fields[3]! + fields[4]! // idle + iowait
    return { busy: total - idle, total }
  } catch {
    return undefined
  }
}

/** The machine's busy CPU seconds over a stretch of time (all processes, all cores). */
export function startMachineMeter(): () => number | undefined {
  const before = machineTicks()
  return () => {
    const after = machineTicks()
    return before && after ? (after.busy - before.busy) / CLOCK_TICKS : undefined
  }
}
