// "Node floor" peer for the light-load scenarios of bench/run.mjs: the least a Node.js MQTT broker does per
// packet, so that its figures split Culex's cost into Node's (vs Mosquitto) and Culex's own (vs this).
//   node bench/peers/node-floor.mjs --port <port> [--tls-port <port> --cert <server.pem> --key <server.key>]
// net.createServer (and tls.createServer for the TLS churn) with noDelay, each socket read as Culex reads
// it (src/mqtt/socket-reads.ts onReads: libuv reads into one buffer, no Readable stream; TLS
// through 'data') and written as Culex writes it (src/mqtt/socket-writes.ts: a plain socket's writes go
// to its handle), accepted as Culex accepts them (src/listeners/accept.ts), whole packets assumed in each read (true of bench/lightload.mjs at these rates), no validation:
// CONNECT → CONNACK 20 02 00 00, SUBSCRIBE → SUBACK granting QoS 0 to its first filter, kept as an exact
// topic in one Map, PUBLISH → its bytes as they came to that topic's subscriber, PINGREQ → PINGRESP,
// DISCONNECT → end. No sessions, no wildcards, no QoS, no keep-alive timers: not a broker.
import fs from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { parseArgs } from 'node:util'
import { acceptQuickly } from '../../dist/listeners/accept.js'
import { onReads } from '../../dist/mqtt/socket-reads.js'
import { directWrites, writeDirect } from '../../dist/mqtt/socket-writes.js'

const { values } = parseArgs({
  options: { port: { type: 'string' }, 'tls-port': { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } },
})
const port = Number(values.port)
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node bench/peers/node-floor.mjs --port <port> [--tls-port <port> --cert <server.pem> --key <server.key>]')
  process.exit(2)
}

const CONNACK = Buffer.from([0x20, 0x02, 0x00, 0x00])
const PINGRESP = Buffer.from([0xd0, 0x00])
const subscribers = new Map()

function send (socket, buf) {
  if (socket.direct) writeDirect(socket, buf)
  else socket.write(buf)
}

function serve (socket) {
  socket.direct = directWrites(socket) !== null
  onReads(socket, { chunkRead: (buf) => {
    let i = 0
    while (i < buf.length) {
      let j = i + 1
      let length = 0
      let multiplier = 1
      let byte
      do { byte = buf[j++]; length += (byte & 0x7f) * multiplier; multiplier *= 128 } while (byte & 0x80 && j < i + 5)
      const end = j + length
      const type = buf[i] >> 4
      if (type === 3) {
        const to = subscribers.get(buf.toString('latin1', j + 2, j + 2 + buf.readUInt16BE(j)))
        if (to !== undefined && !to.destroyed) send(to, buf.subarray(i, end))
      } else if (type === 1) send(socket, CONNACK)
      else if (type === 8) {
        subscribers.set(buf.toString('latin1', j + 4, j + 4 + buf.readUInt16BE(j + 2)), socket)
        send(socket, Buffer.from([0x90, 0x03, buf[j], buf[j + 1], 0x00]))
      } else if (type === 12) send(socket, PINGRESP)
      else if (type === 14) socket.end()
      i = end
    }
  } })
  socket.on('error', () => {})
}

// Connections accepted as Culex's listeners accept them (src/listeners/accept.ts).
const acceptAsCulex = (server) => () => acceptQuickly(server, () => {})
const plain = net.createServer({ noDelay: true }, serve)
plain.listen(port, '127.0.0.1', acceptAsCulex(plain))
if (values['tls-port']) {
  const secure = tls.createServer({ cert: fs.readFileSync(values.cert), key: fs.readFileSync(values.key), noDelay: true }, serve)
  secure.listen(Number(values['tls-port']), '127.0.0.1', acceptAsCulex(secure))
}
process.on('SIGTERM', () => process.exit(0))
