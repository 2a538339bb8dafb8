// The authorization service of the authz-http scenarios: node:http answering every request
// {"result": "allow"} on keep-alive connections, as an EMQX-compatible service does.
//   node bench/peers/authz-http.mjs <port>
import { createServer } from 'node:http'

const port = Number(process.argv[2])
const body = JSON.stringify({ result: 'allow' })
const server = createServer((req, res) => {
  req.resume()
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length }).end(body))
})
server.keepAliveTimeout = 60_000
server.listen(port, '127.0.0.1')
process.on('SIGTERM', () => server.close(() => process.exit(0)))
