// A tiny HTTP file server for the image tests, run inside a test's network namespace:
//   node image-server.js PORT FILE CONTROL
// It serves FILE at every path (but those CONTROL's "files" maps to other files), honours `Range: bytes=N-`, and prints one JSON line per
// request on stdout. CONTROL is a JSON file read on each request: {"stallAfter": N} sends N
// bytes and then nothing more, keeping the connection open (a download that hangs);
// {"delayMs": N} waits N ms before it answers (a slow server, for downloads that overlap).
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'

const [port, file, control] = process.argv.slice(2) as [string, string, string]
const image = readFileSync(file)

createServer(async (request, response) => {
  let settings: { stallAfter?: number; delayMs?: number; files?: Record<string, string> } = {}
  try {
    settings = JSON.parse(readFileSync(control, 'utf8'))
  } catch {}
  // {"files": {"/path": "/local/file"}} serves that file at that path instead of FILE.
  const other = settings.files?.[request.url ?? '']
  const body = other ? readFileSync(other) : image
  if (settings.delayMs) await new Promise((resolve) => setTimeout(resolve, settings.delayMs))
  const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '')
  const from = range ? Number(range[1]) : 0
  if (from >= body.length) {
    response.writeHead(416, { 'content-range': `bytes */${body.length}` }).end()
    process.stdout.write(`${JSON.stringify({ url: request.url, from, status: 416 })}\n`)
    return
  }
  const status = range ? 206 : 200
  process.stdout.write(`${JSON.stringify({ url: request.url, from, status })}\n`)
  response.writeHead(status, {
    'content-length': String(body.length - from),
    ...(range ? { 'content-range': `bytes ${from}-${body.length - 1}/${body.length}` } : {}),
  })
  if (settings.stallAfter !== undefined) {
    response.write(body.subarray(from, from + settings.stallAfter))
    return // and never end
  }
  response.end(body.subarray(from))
}).listen(Number(port), '127.0.0.1', () => process.stdout.write('listening\n'))
