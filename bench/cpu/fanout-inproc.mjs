// One broker's CPU per QoS 0 fan-out delivery, in process: the real Connection, Channel, session and
// router path over in-memory duplex streams, no kernel and no load generator. CPU time of a CPU-bound
// process barely moves with what else the machine runs, so two builds can be compared on a busy machine
// where a socket benchmark cannot (bench/cpu/compare.mjs runs this for each build, in turns).
//
//   node bench/cpu/fanout-inproc.mjs <checkout with dist/> [subscribers=100] [messages per round=20000] [rounds=7]
//
// Prints one JSON line: CPU seconds of each round, their median, and deliveries per CPU second.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Duplex } from 'node:stream'
import mqtt from 'mqtt-packet'

const [checkout = '.', subsArg = '100', msgsArg = '20000', roundsArg = '7'] = process.argv.slice(2)
const SUBS = Number(subsArg)
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
for (let i = 0; i < SUBS; i++) {
  client(`sub${i}`, (n) => { received += n }).push(mqtt.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'bench/out', qos: 0 }] }))
}
const publisher = client('pub', () => {})
const publish = mqtt.generate({ cmd: 'publish', topic: 'bench/out', payload: Buffer.alloc(16), qos: 0, retain: false })
const batch = Buffer.concat(Array.from({ length: BATCH }, () => publish))
const turn = () => new Promise((resolve) => setImmediate(resolve))
for (let i = 0; i < 100 && received < SUBS * 5; i++) await turn() // CONNACKs and SUBACKs

async function round () {
  const expected = received + MESSAGES * SUBS * publish.length
  const start = process.cpuUsage()
  for (let i = 0; i < MESSAGES / BATCH; i++) {
    publisher.push(batch)
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
console.log(JSON.stringify({ checkout, subscribers: SUBS, messages: MESSAGES, cpuSeconds: seconds.map((s) => +s.toFixed(3)), median: +median.toFixed(3), deliveriesPerCpuSecond: Math.round(MESSAGES * SUBS / median) }))
await broker.close()
fs.rmSync(dataDir, { recursive: true, force: true })
