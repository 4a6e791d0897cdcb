/* global process -- plain Node script (no build step) */
// Prints an exec-form instruction of the Dockerfile (ENTRYPOINT, CMD, or HEALTHCHECK's CMD) as NUL-separated
// words, so image-check.sh runs exactly what the image runs. Fails on a shell-form instruction: the image
// promises exec form (signals reach Node; no shell needed).
import { readFileSync } from 'node:fs'

const [file, instruction] = process.argv.slice(2)
const lines = readFileSync(file, 'utf8').split('\n')
const pattern = instruction === 'HEALTHCHECK' ? /^HEALTHCHECK\s.*?\bCMD\s+(.*)$/ : new RegExp(`^${instruction}\\s+(.*)$`)
const found = lines.map((line) => pattern.exec(line.trim())).filter(Boolean).at(-1)
if (!found) throw new Error(`${file}: no ${instruction}`)
let words
try {
  words = JSON.parse(found[1])
} catch {
  throw new Error(`${file}: ${instruction} is not in exec form (a JSON array): ${found[1]}`)
}
if (!Array.isArray(words) || !words.every((w) => typeof w === 'string')) throw new Error(`${file}: ${instruction} is not a list of strings`)
process.stdout.write(words.join('\0'))
