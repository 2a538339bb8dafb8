// "Node TLS floor" peer for the TLS scenarios of bench/run.mjs: the least a Node.js MQTT-over-TLS server
// can do, so that its figures split Culex's cost into Node's tls (vs Mosquitto) and Culex's own (vs this).
//   node bench/peers/node-tls-floor.mjs --tls-port <port> --cert <server.pem> --key <server.key> [--ca <ca.pem>]
// tls.createServer with the certificate, key and CA Culex is given (node:tls defaults otherwise) and noDelay.
// Per connection: read until a whole first packet (fixed header + remaining length) has arrived, refuse it
// unless it is a CONNECT, answer CONNACK 20 02 00 00, then hold the socket idle; close when a chunk starts
// with DISCONNECT or the client ends. Nothing else is parsed and nothing is kept per connection afterwards.
import fs from 'node:fs'
import tls from 'node:tls'
import { parseArgs } from 'node:util'

const { values } = parseArgs({
  options: { 'tls-port': { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' }, ca: { type: 'string' } },
})
const tlsPort = Number(values['tls-port'])
if (!Number.isInteger(tlsPort) || tlsPort <= 0 || !values.cert || !values.key) {
  console.error('usage: node bench/peers/node-tls-floor.mjs --tls-port <port> --cert <server.pem> --key <server.key> [--ca <ca.pem>]')
  process.exit(2)
}

const CONNECT = 0x10
const DISCONNECT = 0xe0
const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00])

// Length of the packet at the start of buf: > 0 when known, 0 while the fixed header is incomplete,
// -1 when the remaining length is malformed (more than 4 bytes).
function packetLength (buf) {
  let remaining = 0
  for (let i = 1; i <= 4; i++) {
    if (i >= buf.length) return 0
    remaining += (buf[i] & 0x7f) * 128 ** (i - 1)
    if (buf[i] < 0x80) return i + 1 + remaining
  }
  return -1
}

// After CONNACK: one shared listener, no per-connection state.
function afterConnect (chunk) {
  if (chunk[0] === DISCONNECT) this.end()
}

function ignore () {}

function onConnection (socket) {
  socket.on('error', ignore) // resets by the client; the socket is destroyed anyway
  let pending = null
  socket.on('data', function untilConnect (chunk) {
    pending = pending === null ? chunk : Buffer.concat([pending, chunk])
    if (pending[0] !== CONNECT) return socket.destroy()
    const length = packetLength(pending)
    if (length < 0) return socket.destroy()
    if (length === 0 || pending.length < length) return
    const rest = pending.subarray(length)
    pending = null
    socket.removeListener('data', untilConnect)
    socket.on('data', afterConnect)
    socket.write(CONNACK)
    if (rest.length > 0) afterConnect.call(socket, rest)
  })
}

const options = { noDelay: true, cert: fs.readFileSync(values.cert), key: fs.readFileSync(values.key) }
if (values.ca) options.ca = fs.readFileSync(values.ca)
const server = tls.createServer(options, onConnection)
server.listen(tlsPort, '127.0.0.1')

function shutdown () {
  server.close()
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
