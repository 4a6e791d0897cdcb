import type { AddressInfo } from 'node:net'
import { buildTestApp, type TestApp } from '../helpers/app.js'

export interface RunningServer extends TestApp {
  /** `http://127.0.0.1:<port>`, the real socket the app listens on. */
  baseUrl: string
}

/** The test app (fresh database) listening on an ephemeral port of 127.0.0.1. */
export async function startServer(env: Record<string, string> = {}): Promise<RunningServer> {
  const t = await buildTestApp(env)
  await t.app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = t.app.server.address() as AddressInfo
  return { ...t, baseUrl: `http://127.0.0.1:${port}` }
}
