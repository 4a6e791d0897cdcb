import { Agent as HttpAgent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import { guardedLookup, urlProblem } from './webhooks.ssrf.js'

export interface SendOptions {
  allowPrivate: boolean
  timeoutMs: number
}

export type Outcome = { ok: true; status: number } | { ok: false; status?: number; error: string }

// Agents with the checked lookup; a fresh connection per attempt (no keep-alive), so each one is checked again.
const guarded = { http: new HttpAgent({ lookup: guardedLookup }), https: new HttpsAgent({ lookup: guardedLookup }) }
const open = { http: new HttpAgent(), https: new HttpsAgent() }

/**
 * POSTs one webhook attempt. Only a 2xx answer is a delivery; a redirect is not followed (it could point anywhere,
 * including inside the network). The answer's body is read and discarded, never kept.
 */
export function sendWebhook(url: string, headers: Record<string, string>, body: string, options: SendOptions): Promise<Outcome> {
  // Node connects to an IP literal without a lookup: urlProblem checks literals instead.
  const problem = urlProblem(url, options.allowPrivate)
  if (problem) return Promise.resolve({ ok: false, error: `URL ${problem}` })
  const target = new URL(url)
  const secure = target.protocol === 'https:'
  const agents = options.allowPrivate ? open : guarded
  return new Promise((resolve) => {
    const req = (secure ? httpsRequest : httpRequest)(target, {
      method: 'POST', agent: secure ? agents.https : agents.http, timeout: options.timeoutMs,
      headers: { ...headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'user-agent': 'Keel-Webhooks/1' },
    }, (res) => {
      res.resume()
      const status = res.statusCode ?? 0
      clearTimeout(deadline)
      if (status >= 200 && status < 300) resolve({ ok: true, status })
      else resolve({ ok: false, status, error: status >= 300 && status < 400 ? `redirect (${status}) not followed` : `answered ${status}` })
    })
    // The whole attempt is bounded, not only the idle time between packets.
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)), options.timeoutMs)
    req.on('timeout', () => req.destroy(new Error(`no answer within ${options.timeoutMs} ms`)))
    req.on('error', (err) => {
      clearTimeout(deadline)
      resolve({ ok: false, error: err.message.slice(0, 500) })
    })
    req.end(body)
  })
}
