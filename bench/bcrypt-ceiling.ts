// The reference for login: how many bcrypt comparisons per second this machine does at the configured cost on all
// cores. Run as a child (`node --import tsx bench/bcrypt-ceiling.ts <rounds> <seconds>`) so its UV_THREADPOOL_SIZE
// is set before libuv starts the pool; prints one JSON line.
import bcrypt from 'bcrypt'

const rounds = Number(process.argv[2])
const seconds = Number(process.argv[3])
const poolSize = Number(process.env.UV_THREADPOOL_SIZE) || 4
const password = 'bench-password-not-secret'

const hash = await bcrypt.hash(password, rounds)

// One comparison at a time: the latency of a single hash on one core.
const singleStart = performance.now()
const singleRuns = 3
for (let i = 0; i < singleRuns; i++) await bcrypt.compare(password, hash)
const singleMs = (performance.now() - singleStart) / singleRuns

// Twice as many comparisons in flight as pool threads, so no thread ever waits for work.
let done = 0
const deadline = performance.now() + seconds * 1000
const started = performance.now()
const lane = async () => {
  while (performance.now() < deadline) {
    if (!(await bcrypt.compare(password, hash))) throw new Error('bcrypt.compare failed')
    done++
  }
}
await Promise.all(Array.from({ length: poolSize * 2 }, lane))
const elapsed = (performance.now() - started) / 1000

console.log(JSON.stringify({ rounds, poolSize, singleMs, hashesPerSecond: done / elapsed, hashes: done, seconds: elapsed }))
