import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { waitForPort } from '../scale/ports.js'
import { daemon, killDaemon, until, type Daemon } from './processes.js'

export const SENTINEL_NAME = 'keelha'

export interface RedisHa {
  /** REDIS_SENTINELS for Keel. */
  sentinels: string
  /** The master's port, as the sentinels report it. */
  masterPort(): Promise<number>
  /**
   * SIGKILL to the current master; resolves once it is dead, with `failover`: resolves once the sentinels name
   * another master, with how long that took (ms).
   */
  killMaster(): Promise<{ failover: Promise<number> }>
  /** Blocks until the master's writes so far reached its replica (WAIT 1, up to 2 s): how many replicas have them. */
  replicated(): Promise<number>
  stop(): Promise<void>
}

/** A Redis master, one replica and three sentinels (quorum 2), all on loopback. */
export async function startRedisHa(dir: string, ports: () => number): Promise<RedisHa> {
  const [masterPort, replicaPort] = [ports(), ports()]
  const sentinelPorts = [ports(), ports(), ports()]
  // --dir: a master writes an RDB file for a replica's full sync, even with saving off.
  const common = ['--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir]
  const servers = new Map<number, Daemon>([
    [masterPort, daemon('redis-master', dir, 'redis-server', ['--port', String(masterPort), ...common])],
    [replicaPort, daemon('redis-replica', dir, 'redis-server', ['--port', String(replicaPort), ...common, '--replicaof', '127.0.0.1', String(masterPort)])],
  ])
  const sentinels = sentinelPorts.map((port, i) => {
    // A sentinel rewrites its configuration file: one each.
    const file = join(dir, `sentinel${i + 1}.conf`)
    writeFileSync(file, [
      `port ${port}`, 'bind 127.0.0.1', `sentinel monitor ${SENTINEL_NAME} 127.0.0.1 ${masterPort} 2`,
      `sentinel down-after-milliseconds ${SENTINEL_NAME} 1000`, `sentinel failover-timeout ${SENTINEL_NAME} 5000`,
      `sentinel parallel-syncs ${SENTINEL_NAME} 1`, '',
    ].join('\n'))
    return daemon(`sentinel${i + 1}`, dir, 'redis-server', [file, '--sentinel'])
  })
  const ask = async (port: number, ...command: string[]) => {
    const client = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 500 })
    client.on('error', () => undefined)
    try {
      await client.connect()
      return await client.call(command[0]!, ...command.slice(1))
    } finally {
      client.disconnect()
    }
  }
  const masterFromSentinels = async () => {
    const answer = await ask(sentinelPorts[0]!, 'SENTINEL', 'get-master-addr-by-name', SENTINEL_NAME) as string[] | null
    return answer ? Number(answer[1]) : undefined
  }
  const ha: RedisHa = {
    sentinels: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','),
    masterPort: () => until('the sentinels to name a master', masterFromSentinels, 10_000),
    async killMaster() {
      const old = await ha.masterPort()
      await killDaemon(servers.get(old))
      const killed = performance.now()
      const failover = until('a new Redis master', async () => {
        const now = await masterFromSentinels()
        return now !== undefined && now !== old ? now : undefined
      }, 30_000, 50).then(() => performance.now() - killed)
      failover.catch(() => undefined) // awaited by the caller, after its own requests
      return { failover }
    },
    async replicated() {
      return Number(await ask(await ha.masterPort(), 'WAIT', '1', '2000'))
    },
    async stop() {
      for (const d of [...servers.values(), ...sentinels]) await killDaemon(d)
    },
  }
  try {
    await Promise.all([masterPort, replicaPort, ...sentinelPorts].map((p) => waitForPort(p)))
    await until('the sentinels to see the replica', async () => {
      const replicas = await ask(sentinelPorts[0]!, 'SENTINEL', 'replicas', SENTINEL_NAME) as unknown[]
      return replicas.length > 0 || undefined
    }, 20_000, 200)
  } catch (err) {
    await ha.stop()
    throw err
  }
  return ha
}
