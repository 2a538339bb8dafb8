// Light-load generator (issue: CPU per message at the rates fleets send): paced publishing, connection
// churn and idle keep-alive, over raw sockets with mqtt-packet. Node is fast enough for these rates,
// and the figure is the broker's CPU (sampled by the runner between the window-begin and window-end
// lines on stderr), not the generator's.
//
//   node bench/lightload.mjs --port P --mode pairs --pairs 50 --rate 1000 [--duration 10] [--warmup 2]
//   node bench/lightload.mjs --port P --mode churn [--parallel 10] [--duration 10] [--ca ca.pem]
//   node bench/lightload.mjs --port P --mode idle --clients 10000 [--keepalive 60] [--duration 20]
//
// Prints one JSON line: what was sent and received in the measuring window.
import fs from 'node:fs'
import net from 'node:net'
import { performance } from 'node:perf_hooks'
import { parseArgs } from 'node:util'
import tls from 'node:tls'
import mqtt from 'mqtt-packet'

const { values: opt } = parseArgs({
  options: {
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    mode: { type: 'string', default: 'pairs' },
    pairs: { type: 'string', default: '50' },
    rate: { type: 'string', default: '1000' },
    parallel: { type: 'string', default: '10' },
    clients: { type: 'string', default: '10000' },
    keepalive: { type: 'string', default: '60' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    // MQTT over TLS (1.3, a full handshake per connection, the server verified against this CA).
    ca: { type: 'string' },
  },
})
const HOST = opt.host
const PORT = Number(opt.port)
const DURATION_MS = Number(opt.duration) * 1000
const WARMUP_MS = Number(opt.warmup) * 1000
const CA = opt.ca ? fs.readFileSync(opt.ca) : null
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const die = (message) => { console.error(`lightload: ${message}`); process.exit(1) }
setTimeout(() => die('did not finish in time'), WARMUP_MS + DURATION_MS + 120_000).unref()

/** A raw MQTT 3.1.1 client: resolves once CONNACK came; `onPacket` sees everything after it. */
function connect (clientId, keepalive = 0, onPacket = () => {}) {
  return new Promise((resolve, reject) => {
    const socket = CA
      ? tls.connect({ port: PORT, host: HOST, ca: CA, servername: 'localhost', minVersion: 'TLSv1.3' })
      : net.connect(PORT, HOST)
    socket.setNoDelay(true)
    const parser = mqtt.parser({ protocolVersion: 4 })
    let connected = false
    parser.on('packet', (packet) => {
      if (!connected && packet.cmd === 'connack') {
        connected = true
        if (packet.returnCode !== 0) reject(new Error(`CONNACK ${packet.returnCode}`))
        else resolve(socket)
      } else onPacket(packet)
    })
    socket.on('data', (chunk) => parser.parse(chunk))
    socket.on('error', (err) => { if (!connected) reject(err) })
    socket.write(mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive }))
  })
}

async function subscribe (socket, topic) {
  const acked = new Promise((resolve) => socket.once('suback', resolve))
  socket.write(mqtt.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: 0 }] }))
  await acked
}

const window = {
  begin () { console.error('window-begin'); this.at = performance.now() },
  end () { console.error('window-end'); this.seconds = (performance.now() - this.at) / 1000 },
}

/** `pairs` publishers each on its own topic, one subscriber each; `rate` messages a second in all, spread evenly in time. */
async function pairs () {
  const n = Number(opt.pairs)
  const rate = Number(opt.rate)
  let received = 0
  const publishers = []
  for (let i = 0; i < n; i++) {
    const sub = await connect(`light-sub-${i}`, 0, (packet) => {
      if (packet.cmd === 'publish') received++
      else if (packet.cmd === 'suback') sub.emit('suback')
    })
    await subscribe(sub, `light/${i}`)
    publishers.push(await connect(`light-pub-${i}`))
  }
  const payload = Buffer.alloc(16)
  const packets = publishers.map((_, i) => mqtt.generate({ cmd: 'publish', topic: `light/${i}`, payload, qos: 0, retain: false }))
  let sent = 0
  const start = performance.now()
  let next = 0
  let windowSent = 0
  let windowReceived = 0
  let phase = 'warmup'
  await new Promise((resolve) => {
    const tick = () => {
      const now = performance.now()
      const due = Math.floor(((now - start) / 1000) * rate)
      while (sent < due) {
        publishers[next].write(packets[next])
        next = (next + 1) % n
        sent++
      }
      if (phase === 'warmup' && now - start >= WARMUP_MS) {
        phase = 'window'; window.begin(); windowSent = sent; windowReceived = received
      } else if (phase === 'window' && now - start >= WARMUP_MS + DURATION_MS) {
        window.end(); windowSent = sent - windowSent; windowReceived = received - windowReceived
        return resolve()
      }
      setTimeout(tick, 1)
    }
    tick()
  })
  for (const s of publishers) s.destroy()
  return { mode: 'pairs', pairs: n, rate, window_s: window.seconds, sent: windowSent, received: windowReceived, messages_per_s: windowReceived / window.seconds }
}

/** Connect, CONNACK, DISCONNECT, close, as fast as `parallel` loops go. */
async function churn () {
  const parallel = Number(opt.parallel)
  let done = 0
  let counting = false
  let counted = 0
  let stop = false
  const loop = async (k) => {
    for (let i = 0; !stop; i++) {
      const socket = await connect(`churn-${k}-${i}`)
      socket.end(mqtt.generate({ cmd: 'disconnect' }))
      await new Promise((resolve) => socket.once('close', resolve))
      done++
      if (counting) counted++
    }
  }
  const loops = Array.from({ length: parallel }, (_, k) => loop(k))
  await sleep(WARMUP_MS)
  window.begin(); counting = true
  await sleep(DURATION_MS)
  counting = false; window.end(); stop = true
  await Promise.all(loops)
  return { mode: 'churn', tls: CA !== null, parallel, window_s: window.seconds, connections: counted, connections_per_s: counted / window.seconds, total: done }
}

/** `clients` connections with a keep-alive, each sending PINGREQ at its own offset within the keep-alive period. */
async function idle () {
  const n = Number(opt.clients)
  const keepalive = Number(opt.keepalive)
  const sockets = []
  let pongs = 0
  for (let i = 0; i < n; i += 200) {
    const batch = []
    for (let j = i; j < Math.min(n, i + 200); j++) {
      batch.push(connect(`idle-${j}`, keepalive, (packet) => { if (packet.cmd === 'pingresp') pongs++ }))
    }
    sockets.push(...await Promise.all(batch))
  }
  const ping = mqtt.generate({ cmd: 'pingreq' })
  // Spread over the period as clients connected at random times would be; each pings at 3/4 of it.
  const periodMs = keepalive * 750
  const timers = sockets.map((socket, i) => setTimeout(function again () {
    socket.write(ping)
    timers[i] = setTimeout(again, periodMs)
  }, (i / n) * periodMs))
  await sleep(WARMUP_MS)
  const before = pongs
  window.begin()
  await sleep(DURATION_MS)
  window.end()
  const windowPongs = pongs - before
  for (const t of timers) clearTimeout(t)
  for (const s of sockets) s.destroy()
  return { mode: 'idle', clients: n, keepalive_s: keepalive, window_s: window.seconds, pings: windowPongs }
}

const modes = { pairs, churn, idle }
if (!modes[opt.mode]) die(`unknown --mode ${opt.mode}`)
try {
  console.log(JSON.stringify(await modes[opt.mode]()))
  process.exit(0)
} catch (err) {
  die(err.message)
}
