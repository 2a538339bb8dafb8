// One broker's CPU per QoS 0 delivery, fan-out (1 → N) or fan-in (N → 1, as the socket bench's fanin0), in process: the real Connection, Channel, session and
// router path over in-memory duplex streams, no kernel and no load generator. CPU time of a CPU-bound
// process barely moves with what else the machine runs, so two builds can be compared on a busy machine
// where a socket benchmark cannot (bench/cpu/compare.mjs runs this for each build, in turns).
//
//   node bench/cpu/fanout-inproc.mjs <checkout with dist/> [subscribers=100] [messages per round=20000] [rounds=7]
//   node bench/cpu/fanout-inproc.mjs <checkout with dist/> fanin [publishers=100] [messages per round=20000] [rounds=7]
//
// Prints one JSON line: CPU seconds of each round, their median, and deliveries per CPU second.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Duplex } from 'node:stream'
import mqtt from 'mqtt-packet'

const argv = process.argv.slice(2)
const FANIN = argv[1] === 'fanin'
if (FANIN) argv.splice(1, 1)
const [checkout = '.', clientsArg = '100', msgsArg = '20000', roundsArg = '7'] = argv
const SUBS = FANIN ? 1 : Number(clientsArg)
const PUBS = FANIN ? Number(clientsArg) : 1
const MESSAGES = Number(msgsArg)
const BATCH = 100
const { createBroker } = await import(path.resolve(checkout, 'dist/index.js'))

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'culex-cpu-'))
const broker = await createBroker({
  config: {
    node: { data_dir: dataDir },
    durable_storage: { backend: 'memory' },
    listeners: { tcp: {}, ssl: {}, ws: {}, wss: {} },
    dashboard: { listeners: { http: { enable: false } } },
    mqtt: { max_mqueue_len: 10000000, max_inflight: 65535 },
    sys_topics: { sys_msg_interval: 'disabled', sys_heartbeat_interval: 'disabled' },
  },
})
await broker.start()

/** A client's socket: what the test pushes is what the broker reads; what the broker writes is counted. */
class MemorySocket extends Duplex {
  constructor (onWrite) { super(); this.onWrite = onWrite }
  _read () {}
  _write (chunk, _encoding, done) { this.onWrite(chunk.length); done() }
  _writev (chunks, done) { for (const { chunk } of chunks) this.onWrite(chunk.length); done() }
}

const listener = { id: 'tcp:default', mountpoint: '' }
const transport = { remoteAddress: '127.0.0.1', remotePort: 1, transport: 'tcp' }
let received = 0
function client (clientId, onWrite) {
  const socket = new MemorySocket(onWrite)
  broker.core.accept(socket, listener, transport)
  socket.push(mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 }))
  return socket
}
const filter = FANIN ? 'bench/in/+' : 'bench/out'
for (let i = 0; i < SUBS; i++) {
  client(`sub${i}`, (n) => { received += n }).push(mqtt.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: filter, qos: 0 }] }))
}
// Each publisher sends batches of BATCH messages on its own topic (fan-in) or on bench/out (fan-out).
const publishers = Array.from({ length: PUBS }, (_, i) => {
  const packet = mqtt.generate({ cmd: 'publish', topic: FANIN ? `bench/in/${String(i).padStart(4, '0')}` : 'bench/out', payload: Buffer.alloc(16), qos: 0, retain: false })
  return { socket: client(`pub${i}`, () => {}), batch: Buffer.concat(Array.from({ length: BATCH }, () => packet)), size: packet.length }
})
const publish = { length: publishers[0].size }
const turn = () => new Promise((resolve) => setImmediate(resolve))
for (let i = 0; i < 100 && received < SUBS * 5; i++) await turn() // CONNACKs and SUBACKs

async function round () {
  const expected = received + MESSAGES * SUBS * publish.length
  const start = process.cpuUsage()
  for (let i = 0; i < MESSAGES / BATCH; i++) {
    const { socket, batch } = publishers[i % PUBS]
    socket.push(batch)
    await turn()
  }
  for (let i = 0; i < 100000 && received < expected; i++) await turn()
  if (received < expected) throw new Error(`only ${received} of ${expected} bytes delivered`)
  const used = process.cpuUsage(start)
  return (used.user + used.system) / 1e6
}

const seconds = []
for (let r = 0; r < Number(roundsArg); r++) seconds.push(await round())
const median = [...seconds].sort((a, b) => a - b)[Math.floor(seconds.length / 2)]
console.log(JSON.stringify({ checkout, scenario: FANIN ? 'fanin' : 'fanout', publishers: PUBS, subscribers: SUBS, messages: MESSAGES, cpuSeconds: seconds.map((s) => +s.toFixed(3)), median: +median.toFixed(3), deliveriesPerCpuSecond: Math.round(MESSAGES * SUBS / median) }))
await broker.close()
fs.rmSync(dataDir, { recursive: true, force: true })
