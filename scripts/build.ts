// `npm run build`: bundles src/server.ts and what it imports into dist/ for `npm run serve`.
// One bundle instead of a thousand files: loading modules was most of a process's start-up (about 1 s of 1.7 s
// on the 2-core machine), and with WORKERS every worker pays it. Types are checked by `npm run typecheck`.
import { rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'

const root = dirname(dirname(fileURLToPath(import.meta.url)))

/**
 * Left to node_modules: packages that read files next to their own code at run time (PGlite's WebAssembly,
 * bcrypt's native addon, the docs page's static files, pino's worker-thread transports, swagger's package.json),
 * and optional drivers Keel never loads.
 */
export const EXTERNAL = [
  '@electric-sql/pglite', 'bcrypt', '@fastify/swagger', '@fastify/swagger-ui', 'pino', 'pino-pretty', 'thread-stream',
  'pg-native', 'ioredis',
  // Required once by src/tracing/tracing.ts through Node's require hook, which a bundled copy would bypass.
  'pg',
]

export async function buildBundle(outdir = join(root, 'dist')): Promise<void> {
  rmSync(outdir, { recursive: true, force: true })
  await build({
    entryPoints: [join(root, 'src', 'server.ts')],
    outdir,
    bundle: true,
    splitting: true, // dynamic imports stay lazy: a cluster primary never loads the HTTP app
    format: 'esm',
    platform: 'node',
    target: 'node20',
    sourcemap: true,
    external: EXTERNAL,
    // Bundled CommonJS packages call require() for Node's own modules.
    banner: { js: "import { createRequire as __keelCreateRequire } from 'node:module'; const require = __keelCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  })
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildBundle()
}
