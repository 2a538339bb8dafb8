// aedes 1.x peer broker for bench/run.mjs: `node bench/peers/aedes.mjs <port>`.
// Listens on 127.0.0.1 with the library defaults; only Nagle is disabled, as for the other brokers.
import net from 'node:net'
import { Aedes } from 'aedes'

const port = Number(process.argv[2])
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: node bench/peers/aedes.mjs <port>')
  process.exit(2)
}

const broker = await Aedes.createBroker()
const server = net.createServer({ noDelay: true }, broker.handle)
server.listen(port, '127.0.0.1')

function shutdown () {
  server.close()
  broker.close(() => process.exit(0))
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
