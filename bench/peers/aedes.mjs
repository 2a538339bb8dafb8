// aedes 1.x peer broker for bench/run.mjs:
//   node bench/peers/aedes.mjs <port> [--tls-port <port> --cert <server.pem> --key <server.key>]
// Listens on 127.0.0.1 with the library defaults; only Nagle is disabled, as for the other brokers.
// With --tls-port it also listens for MQTT over TLS (node:tls defaults) on that port.
import fs from 'node:fs'
import net from 'node:net'
import tls from 'node:tls'
import { parseArgs } from 'node:util'
import { Aedes } from 'aedes'

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { 'tls-port': { type: 'string' }, cert: { type: 'string' }, key: { type: 'string' } },
})
const port = Number(positionals[0])
const tlsPort = values['tls-port'] === undefined ? null : Number(values['tls-port'])
if (!Number.isInteger(port) || port <= 0 || (tlsPort !== null && (!Number.isInteger(tlsPort) || tlsPort <= 0 || !values.cert || !values.key))) {
  console.error('usage: node bench/peers/aedes.mjs <port> [--tls-port <port> --cert <server.pem> --key <server.key>]')
  process.exit(2)
}

const broker = await Aedes.createBroker()
const servers = [net.createServer({ noDelay: true }, broker.handle)]
servers[0].listen(port, '127.0.0.1')
if (tlsPort !== null) {
  const options = { noDelay: true, cert: fs.readFileSync(values.cert), key: fs.readFileSync(values.key) }
  const server = tls.createServer(options, broker.handle)
  server.listen(tlsPort, '127.0.0.1')
  servers.push(server)
}

function shutdown () {
  for (const server of servers) server.close()
  broker.close(() => process.exit(0))
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
