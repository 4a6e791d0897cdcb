// The reference for GET /healthz: plain node:http answering the same tiny JSON, in as many processes as Keel used.
// Run as a child: `node --import tsx bench/bare-server.ts <port> <processes>`; prints "ready" once every process listens.
import cluster from 'node:cluster'
import { createServer } from 'node:http'

const port = Number(process.argv[2])
const processes = Number(process.argv[3] ?? 1)
const body = JSON.stringify({ status: 'ok' })

function serve(onListening: () => void): void {
  createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }).listen(port, '127.0.0.1', onListening)
}

if (processes > 1 && cluster.isPrimary) {
  let listening = 0
  cluster.on('listening', () => {
    if (++listening === processes) console.log('ready')
  })
  for (let i = 0; i < processes; i++) cluster.fork()
  process.on('SIGTERM', () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill('SIGTERM')
    process.exit(0)
  })
} else {
  serve(() => {
    if (cluster.isPrimary) console.log('ready')
  })
}
