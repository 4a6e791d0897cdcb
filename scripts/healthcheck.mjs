/* global process, fetch, AbortSignal -- plain Node script, copied into the image as is */
// The image's HEALTHCHECK: GET /healthz on this container's own port with Node's fetch (the image needs no
// shell or curl). Exit 0 when it answers 200 within 2 s, 1 otherwise.
const port = process.env.PORT || '8000'
try {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(2000) })
  process.exit(res.status === 200 ? 0 : 1)
} catch {
  process.exit(1)
}
