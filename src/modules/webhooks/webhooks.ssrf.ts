import { lookup as dnsLookup, type LookupAddress } from 'node:dns'
import { BlockList, isIP, type LookupFunction } from 'node:net'

/**
 * Addresses a webhook may never reach outside development (SSRF): loopback, private, link-local (cloud metadata
 * at 169.254.169.254 and fd00:ec2::254 included), carrier-grade NAT, unspecified, multicast and reserved ranges.
 */
const blocked = new BlockList()
for (const [network, prefix] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) blocked.addSubnet(network, prefix, 'ipv4')
for (const [network, prefix] of [
  ['::', 128], ['::1', 128], ['fc00::', 7], ['fe80::', 10], ['ff00::', 8], ['64:ff9b::', 96], ['2001:db8::', 32], ['100::', 64],
] as const) blocked.addSubnet(network, prefix, 'ipv6')

/** Whether `address` (v4, v6, or v4-mapped v6 such as ::ffff:127.0.0.1) is one a webhook must not reach. */
export function isBlockedAddress(address: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)?.[1]
  if (mapped) return blocked.check(mapped, 'ipv4')
  const family = isIP(address)
  if (family === 0) return true
  return blocked.check(address, family === 4 ? 'ipv4' : 'ipv6')
}

export class BlockedAddressError extends Error {
  override name = 'BlockedAddressError'
}

/**
 * The `lookup` of the agent that delivers webhooks: the name is resolved once, every address checked, and the
 * connection made to the address checked — so a name that resolves to a private address (or is re-pointed there
 * between a check and the connection: DNS rebinding) is refused at connect time.
 */
export const guardedLookup: LookupFunction = (hostname, options, callback) => {
  dnsLookup(hostname, { ...options, all: true }, (err, addresses: LookupAddress[]) => {
    if (err) return callback(err, '', 0)
    const refused = addresses.find((a) => isBlockedAddress(a.address))
    if (refused || addresses.length === 0) {
      return callback(new BlockedAddressError(`${hostname} resolves to ${refused?.address ?? 'nothing'}, which webhooks may not reach`), '', 0)
    }
    if (options.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses)
    callback(null, addresses[0]!.address, addresses[0]!.family)
  })
}

/** Why `url` cannot be a webhook target, or undefined. `allowPrivate` (development, tests) lifts the address rules. */
export function urlProblem(text: string, allowPrivate: boolean): string | undefined {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return 'must be an absolute URL'
  }
  if (url.username || url.password) return 'must not carry credentials'
  if (url.protocol !== 'https:' && !(allowPrivate && url.protocol === 'http:')) return allowPrivate ? 'must be http or https' : 'must be https'
  const host = url.hostname.replace(/^\[|\]$/g, '')
  if (!allowPrivate && isIP(host) !== 0 && isBlockedAddress(host)) return 'must not be a loopback, private, link-local or reserved address'
  return undefined
}
