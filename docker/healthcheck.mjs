// Container health check: an MQTT 3.1.1 CONNECT to the broker's own TCP listener must be answered with
// a CONNACK within the timeout (any return code: a refusal by authentication still proves the broker
// is serving). Exit 0 = healthy, 1 = unhealthy. CULEX_HEALTHCHECK_PORT overrides the port (default 1883).
import { connect } from 'node:net'

const port = Number(process.env.CULEX_HEALTHCHECK_PORT ?? 1883)
const clientId = Buffer.from(`culex-healthcheck-${process.pid}`)
const body = Buffer.concat([
  Buffer.from([0x00, 0x04]), Buffer.from('MQTT'), Buffer.from([0x04, 0x02, 0x00, 0x0a]), // level 4, clean session, keepalive 10s
  Buffer.from([clientId.length >> 8, clientId.length & 0xff]), clientId,
])
const connectPacket = Buffer.concat([Buffer.from([0x10, body.length]), body])

const done = (code, why) => {
  if (code !== 0) process.stderr.write(`unhealthy: ${why}\n`)
  process.exit(code)
}
const socket = connect({ host: '127.0.0.1', port }, () => socket.write(connectPacket))
socket.setTimeout(3000, () => done(1, `no CONNACK from 127.0.0.1:${port} within 3s`))
socket.on('error', (err) => done(1, `127.0.0.1:${port}: ${err.message}`))
socket.once('data', (data) => {
  if (data[0] !== 0x20) done(1, `expected CONNACK, got packet type 0x${data[0].toString(16)}`)
  socket.end(Buffer.from([0xe0, 0x00]), () => done(0)) // DISCONNECT: no will, no error log
})
