// Protocol fuzzer (`npm run fuzz`): generated and mutated MQTT packets of every type, at protocol
// levels 3, 4 and 5, over real TCP sockets to the built broker (dist/) running in a child process.
//
// The parent opens many connections at a time; each sends a CONNECT (usually valid), then batches of
// valid and mutated packets, each batch closed by a PINGREQ whose PINGRESP says the broker read the
// batch. Mutations: bit flips, truncation, remaining-length corruption, oversize remaining lengths,
// random bytes, invalid UTF-8, wrong fixed-header flags or type, spliced/inserted/deleted bytes, and
// hand-built MQTT 5 properties (unknown, duplicated, wrongly typed, wrong lengths).
//
// Counted: packets sent, connections opened and who closed them, broker crashes (the child exits),
// uncaught exceptions and unhandled rejections in the broker (its handlers count them), lines it
// logged at error level, and its RSS before, at peak and after (fuzz connections closed, sessions
// expired, a GC, a settle). Then a normal client must still connect, subscribe, publish and receive.
// The summary goes to the console and, between the fuzz markers, to BENCHMARKS.md. The exit code is
// non-zero on a crash, an unhandled error, an error logged, memory not back to baseline, or a failed
// final check.
//
//   node bench/fuzz.mjs [--packets 1000000] [--seconds 300] [--seed 1] [--parallel 48] [--no-write] [--heap-snapshots DIR]
//
// --heap-snapshots DIR: the broker writes a V8 heap snapshot to DIR before the run and after it (once
// "after" is measured), to compare in Chrome DevTools (Memory, Comparison) and find what stays allocated.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { Writable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { gitRevision } from './proc.mjs'
import { writeBetweenMarkers } from './report-file.mjs'

const SELF = fileURLToPath(import.meta.url)
const ROOT = path.resolve(path.dirname(SELF), '..')
const DIST_INDEX = path.join(ROOT, 'dist/index.js')
const BENCHMARKS_MD = path.join(ROOT, 'BENCHMARKS.md')
const HOST = '127.0.0.1'
const BEGIN_MARKER = '<!-- fuzz:start -->'
const END_MARKER = '<!-- fuzz:end -->'

// The broker's settings for the run (everything else default). Short session expiry, so that the
// persistent sessions the fuzz leaves behind are gone before memory is measured "after".
const SESSION_EXPIRY_S = 3
const MAX_PACKET_SIZE = 65536
const MAX_TOPIC_ALIAS = 10
const BROKER_CONFIG = {
  listeners: { tcp: { default: { bind: `${HOST}:0` } } },
  dashboard: { listeners: { http: { enable: false } } },
  durable_storage: { backend: 'memory' },
  mqtt: { session_expiry_interval: `${SESSION_EXPIRY_S}s`, max_packet_size: MAX_PACKET_SIZE, max_topic_alias: MAX_TOPIC_ALIAS },
}
// "Memory back to baseline": RSS after ≤ max(baseline × 1.5, baseline + 30 MiB).
const MEMORY_FACTOR = 1.5
const MEMORY_SLACK = 30 * 1024 * 1024
const REPLY_TIMEOUT_MS = 3000
const CLOSE_TIMEOUT_MS = 1000
const SETTLE_MS = 5000
const ERROR_SAMPLES = 10

// ---------- child: the broker ----------

async function runChild () {
  const counts = { uncaughtExceptions: 0, unhandledRejections: 0, logLines: 0, logErrors: 0, errorSamples: [] }
  const report = (kind, err) => process.stderr.write(`FUZZ-CHILD ${kind}: ${err?.stack ?? String(err)}\n`)
  process.on('uncaughtException', (err) => { counts.uncaughtExceptions++; report('uncaughtException', err) })
  process.on('unhandledRejection', (err) => { counts.unhandledRejections++; report('unhandledRejection', err) })
  // The fuzzer gone (killed, crashed): the broker goes too.
  process.on('disconnect', () => process.exit(0))

  const { pino } = await import('pino')
  const { createBroker } = await import(DIST_INDEX)
  // Counts log lines, keeps those at error level and above (50+) and echoes them to stderr.
  const sink = new Writable({
    write (chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue
        counts.logLines++
        const level = Number(/"level":(\d+)/.exec(line)?.[1] ?? 0)
        if (level < 50) continue
        counts.logErrors++
        if (counts.errorSamples.length < ERROR_SAMPLES) counts.errorSamples.push(line.slice(0, 2000))
        process.stderr.write(`FUZZ-CHILD log: ${line.slice(0, 2000)}\n`)
      }
      done()
    },
  })
  const logger = pino({ level: 'warning', customLevels: { notice: 35, warning: 40, critical: 55 } }, sink)
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'culex-fuzz-'))
  const broker = await createBroker({ logger, config: { ...BROKER_CONFIG, node: { data_dir: dataDir } } })
  const sessions = { connected: 0, disconnected: 0 }
  broker.addHook('clientConnected', () => { sessions.connected++ })
  broker.addHook('clientDisconnected', () => { sessions.disconnected++ })

  const stats = () => {
    const m = broker.core.metrics
    return {
      ...procMemory(process.pid),
      ...heapMemory(),
      openSockets: broker.listener('tcp').connectionCount,
      sessions: { ...sessions },
      metrics: { packetsReceived: m.packetsReceived, protocolErrors: m.protocolErrors, messagesReceived: m.messagesReceived, messagesSent: m.messagesSent, messagesDropped: m.messagesDropped, bytesReceived: m.bytesReceived },
      counts: { ...counts, errorSamples: [...counts.errorSamples] },
    }
  }
  process.on('message', async (msg) => {
    if (msg.cmd === 'stats') process.send({ id: msg.id, stats: stats() })
    if (msg.cmd === 'gc') {
      for (let i = 0; i < 3; i++) { globalThis.gc(); await sleep(50) }
      process.send({ id: msg.id, stats: stats() })
    }
    if (msg.cmd === 'snapshot') {
      const { writeHeapSnapshot } = await import('node:v8')
      process.send({ id: msg.id, stats: { file: writeHeapSnapshot(path.join(msg.dir, `broker-${msg.name}.heapsnapshot`)) } })
    }
    if (msg.cmd === 'close') {
      await broker.close()
      fs.rmSync(dataDir, { recursive: true, force: true })
      process.send({ id: msg.id, stats: stats() }, () => process.exit(0))
    }
  })
  process.send({ ready: true, port: broker.port('tcp') })
}

function heapMemory () {
  const { heapUsed, arrayBuffers } = process.memoryUsage()
  return { heapUsed, arrayBuffers }
}

function procMemory (pid) {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = (name) => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0) * 1024
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
}

// ---------- parent: broker handle ----------

class BrokerProcess {
  constructor () {
    this.child = null
    this.port = 0
    this.stderrTail = ''
    this.pending = new Map()
    this.nextId = 1
    this.expectedExit = false
  }

  async start () {
    this.expectedExit = false
    const child = spawn(process.execPath, ['--expose-gc', SELF, '--child'], { stdio: ['ignore', 'inherit', 'pipe', 'ipc'] })
    this.child = child
    child.stderr.setEncoding('utf8').on('data', (chunk) => {
      this.stderrTail = (this.stderrTail + chunk).slice(-8000)
      process.stderr.write(chunk)
    })
    child.exitPromise = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })))
    child.on('message', (msg) => {
      if (msg.ready) this.port = msg.port
      const waiter = this.pending.get(msg.id)
      if (waiter) { this.pending.delete(msg.id); waiter(msg.stats) }
    })
    const ready = new Promise((resolve, reject) => {
      child.on('message', (msg) => { if (msg.ready) resolve() })
      child.exitPromise.then(({ code, signal }) => reject(new Error(`the broker exited during start-up (${code ?? signal}): ${this.stderrTail.trim().split('\n').slice(-5).join(' | ')}`)))
    })
    await ready
  }

  get alive () {
    return this.child !== null && this.child.exitCode === null && this.child.signalCode === null
  }

  ask (cmd, timeoutMs = 15_000, extra = {}) {
    if (!this.alive) return Promise.resolve(null)
    const id = this.nextId++
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.pending.delete(id); resolve(null) }, timeoutMs)
      this.pending.set(id, (stats) => { clearTimeout(timer); resolve(stats) })
      this.child.exitPromise.then(() => { clearTimeout(timer); this.pending.delete(id); resolve(null) })
      this.child.send({ cmd, id, ...extra })
    })
  }

  memory () {
    return this.alive ? procMemory(this.child.pid) : null
  }

  async stop () {
    if (!this.alive) return null
    this.expectedExit = true
    const stats = await this.ask('close')
    const exited = await Promise.race([this.child.exitPromise, sleep(5000).then(() => null)])
    if (!exited) this.child.kill('SIGKILL')
    return stats
  }
}

// ---------- random ----------

/** mulberry32: small, fast and seedable. */
function makeRng (seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (lo, hi) => lo + Math.floor(next() * (hi - lo + 1))
  const pick = (list) => list[Math.floor(next() * list.length)]
  const chance = (p) => next() < p
  const bytes = (n) => { const b = Buffer.allocUnsafe(n); for (let i = 0; i < n; i++) b[i] = int(0, 255); return b }
  /** An entry of [weight, value] pairs, by weight. */
  const weighted = (entries) => {
    let r = next() * entries.reduce((s, [w]) => s + w, 0)
    for (const [w, v] of entries) { if ((r -= w) < 0) return v }
    return entries[entries.length - 1][1]
  }
  return { next, int, pick, chance, bytes, weighted }
}

// ---------- packet generation (mqtt-packet) ----------

let mqttPacket
const TOPICS = ['fuzz/a', 'fuzz/b/c', 'fuzz/ü/€', 'fuzz/' + 'x'.repeat(200), '$SYS/brokers/fuzz', 'a', '/', 'fuzz//', 'fuzz/q/1', 'fuzz/q/2']
// Lengths across LMDB's key limits (1,978 bytes; lmdb-js's RangeError near 4 KB) up to MQTT's 65,535, for
// client ids, topics, will topics and user properties (issue 15); those over max_packet_size are refused whole.
const LONG_LENGTHS = [1978, 2500, 4100, 5000, 65535]
const long = (rng, prefix) => prefix.padEnd(rng.pick(LONG_LENGTHS), 'L')
const FILTERS = ['fuzz/#', 'fuzz/+/c', '#', '+', '+/+', 'fuzz/a', '$SYS/#', '$share/g1/fuzz/#', '$share/g2/+', 'fuzz/q/+', '/#']
const MARK = 'ZQZQ'
// Ill-formed UTF-8, U+0000 and a surrogate, each 4 bytes long to replace MARK in place.
const BAD_UTF8 = ['c0af4141', 'eda08041', 'fffe4141', '00414141', 'f8888080', 'c3284141', 'e0804141', 'f4908080'].map((h) => Buffer.from(h, 'hex'))
const CLIENT_IDS = 256

function userProperties (rng) {
  if (rng.chance(0.7)) return undefined
  if (rng.chance(0.02)) return { [long(rng, 'k')]: long(rng, 'v') }
  return { k: rng.chance(0.5) ? 'v' : ['v1', 'v2'], [rng.pick(['a', 'é', 'long'.repeat(20)])]: 'x' }
}

function clean (obj) {
  for (const k of Object.keys(obj)) if (obj[k] === undefined) delete obj[k]
  return obj
}

function maybeProps (rng, v, make) {
  if (v !== 5 || rng.chance(0.4)) return {}
  const props = clean(make())
  return Object.keys(props).length ? { properties: props } : {}
}

function payload (rng) {
  const size = rng.weighted([[60, rng.int(0, 32)], [30, rng.int(33, 512)], [9, rng.int(513, 8192)], [1, rng.int(8193, 60000)]])
  return rng.chance(0.5) ? Buffer.from('fuzz '.repeat(Math.ceil(size / 5)).slice(0, size)) : rng.bytes(size)
}

// Loose: also values a client must not send (Packet Identifier 0, unknown topic aliases, a Subscription
// Identifier on PUBLISH, a wildcard Response Topic), which end the connection; only for a batch's last packet.
let loose = false
const messageId = (rng) => loose && rng.chance(0.1) ? 0 : rng.int(1, 65535)

function connectPacket (rng, v, utf8Mark = false) {
  const id = rng.chance(0.01)
    ? long(rng, 'fuzz-long-')
    : rng.weighted([[85, `fuzz-${rng.int(0, CLIENT_IDS - 1)}`], [10, v === 3 ? 'fuzz-v3' : ''], [5, 'c'.repeat(rng.int(24, 300))]])
  const packet = {
    cmd: 'connect',
    protocolId: v === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion: v,
    clean: rng.chance(0.75),
    clientId: utf8Mark ? `fuzz-${MARK}` : id,
    keepalive: rng.pick([0, 0, 30, 60, 600, 65535]),
  }
  if (rng.chance(0.3)) packet.username = rng.pick(['user', 'ü', '', 'u'.repeat(100)])
  if (packet.username !== undefined && rng.chance(0.5)) packet.password = rng.bytes(rng.int(0, 64))
  if (rng.chance(0.2)) {
    packet.will = { topic: rng.chance(0.03) ? long(rng, 'fuzz/will/') : rng.pick(TOPICS), payload: payload(rng), qos: rng.int(0, 2), retain: rng.chance(0.2) }
    if (v === 5 && rng.chance(0.5)) packet.will.properties = clean({ willDelayInterval: rng.pick([0, 1, 10]), payloadFormatIndicator: rng.chance(0.3) || undefined, messageExpiryInterval: rng.chance(0.3) ? rng.int(0, 100) : undefined, contentType: rng.chance(0.2) ? 'text/plain' : undefined, userProperties: userProperties(rng) })
  }
  Object.assign(packet, maybeProps(rng, v, () => ({
    sessionExpiryInterval: rng.chance(0.5) ? rng.pick([0, 1, 60, 0xffffffff]) : undefined,
    receiveMaximum: rng.chance(0.3) ? rng.int(1, 65535) : undefined,
    maximumPacketSize: rng.chance(0.3) ? rng.int(64, 1 << 20) : undefined,
    topicAliasMaximum: rng.chance(0.3) ? rng.int(0, 20) : undefined,
    requestResponseInformation: rng.chance(0.2) || undefined,
    requestProblemInformation: rng.chance(0.2) ? rng.chance(0.5) : undefined,
    userProperties: userProperties(rng),
    authenticationMethod: rng.chance(0.03) ? 'SCRAM-SHA-256' : undefined,
  })))
  return packet
}

function publishPacket (rng, v, utf8Mark = false) {
  const qos = rng.weighted([[50, 0], [30, 1], [20, 2]])
  const topic = utf8Mark ? `fuzz/${MARK}` : rng.chance(0.01) ? long(rng, 'fuzz/long/') : rng.pick(TOPICS)
  const packet = { cmd: 'publish', topic, payload: payload(rng), qos, retain: rng.chance(0.08), dup: qos > 0 && rng.chance(0.1) }
  if (qos > 0) packet.messageId = messageId(rng)
  Object.assign(packet, maybeProps(rng, v, () => {
    const alias = rng.chance(0.2) ? (loose ? rng.int(0, MAX_TOPIC_ALIAS + 2) : rng.int(1, MAX_TOPIC_ALIAS)) : undefined
    // An empty topic uses an alias set before on this connection, or is unknown (loose only).
    if (alias !== undefined && loose && rng.chance(0.5)) packet.topic = ''
    return {
      topicAlias: alias,
      payloadFormatIndicator: rng.chance(0.1) || undefined,
      messageExpiryInterval: rng.chance(0.2) ? rng.int(0, 100) : undefined,
      responseTopic: rng.chance(0.1) ? rng.pick(loose ? [...TOPICS, 'fuzz/#'] : TOPICS) : undefined,
      correlationData: rng.chance(0.1) ? rng.bytes(8) : undefined,
      contentType: rng.chance(0.1) ? 'application/json' : undefined,
      subscriptionIdentifier: loose && rng.chance(0.1) ? rng.int(1, 100) : undefined,
      userProperties: userProperties(rng),
    }
  }))
  return packet
}

function subscribePacket (rng, v, utf8Mark = false) {
  const subscriptions = Array.from({ length: rng.int(1, 4) }, () => {
    const sub = { topic: utf8Mark ? `fuzz/${MARK}` : rng.pick(FILTERS), qos: rng.int(0, 2) }
    if (v === 5) Object.assign(sub, { nl: rng.chance(0.2), rap: rng.chance(0.2), rh: rng.int(0, 2) })
    return sub
  })
  return { cmd: 'subscribe', messageId: messageId(rng), subscriptions, ...maybeProps(rng, v, () => ({ subscriptionIdentifier: rng.chance(0.5) ? rng.int(1, 268435455) : undefined, userProperties: userProperties(rng) })) }
}

function unsubscribePacket (rng, v, utf8Mark = false) {
  const unsubscriptions = Array.from({ length: rng.int(1, 3) }, () => (utf8Mark ? `fuzz/${MARK}` : rng.pick(FILTERS)))
  return { cmd: 'unsubscribe', messageId: messageId(rng), unsubscriptions, ...maybeProps(rng, v, () => ({ userProperties: userProperties(rng) })) }
}

function ackPacket (rng, v, cmd) {
  const packet = { cmd, messageId: messageId(rng) }
  if (v === 5 && rng.chance(0.5)) packet.reasonCode = rng.pick(cmd === 'pubrel' || cmd === 'pubcomp' ? [0, 0x92] : [0, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99])
  Object.assign(packet, maybeProps(rng, v, () => ({ reasonString: rng.chance(0.5) ? 'fuzz' : undefined, userProperties: userProperties(rng) })))
  return packet
}

function disconnectPacket (rng, v) {
  const packet = { cmd: 'disconnect' }
  if (v === 5 && rng.chance(0.7)) packet.reasonCode = rng.pick([0, 4, 0x80, 0x81, 0x82, 0x8e, 0x93])
  Object.assign(packet, maybeProps(rng, v, () => ({ sessionExpiryInterval: rng.chance(0.3) ? rng.pick([0, 10]) : undefined, reasonString: rng.chance(0.3) ? 'bye' : undefined, serverReference: rng.chance(0.1) ? 'other' : undefined })))
  return packet
}

function authPacket (rng) {
  return { cmd: 'auth', reasonCode: rng.pick([0, 0x18, 0x19]), properties: clean({ authenticationMethod: rng.chance(0.8) ? 'SCRAM-SHA-256' : undefined, authenticationData: rng.chance(0.5) ? rng.bytes(16) : undefined, reasonString: rng.chance(0.2) ? 'x' : undefined }) }
}

function serverOnlyPacket (rng, v, cmd) {
  switch (cmd) {
    case 'connack': return v === 5 ? { cmd, sessionPresent: rng.chance(0.5), reasonCode: rng.pick([0, 0x80, 0x87]) } : { cmd, sessionPresent: false, returnCode: rng.int(0, 5) }
    case 'suback': return { cmd, messageId: messageId(rng), granted: [rng.pick([0, 1, 2, 128])] }
    case 'unsuback': return v === 5 ? { cmd, messageId: messageId(rng), granted: [0] } : { cmd, messageId: messageId(rng) }
    default: return { cmd: 'pingresp' }
  }
}

const PACKET_TYPES = ['connect', 'connack', 'publish', 'puback', 'pubrec', 'pubrel', 'pubcomp', 'subscribe', 'suback', 'unsubscribe', 'unsuback', 'pingreq', 'pingresp', 'disconnect', 'auth']
// Packets a client may send on a connected session, by weight: they keep the connection open.
const STREAM_TYPES = [[40, 'publish'], [10, 'subscribe'], [5, 'unsubscribe'], [6, 'puback'], [5, 'pubrec'], [6, 'pubrel'], [5, 'pubcomp'], [5, 'pingreq']]
// Packets that end the connection: server-only ones, a second CONNECT, AUTH outside enhanced
// authentication, DISCONNECT. They only end a batch, so that the packets before them are read.
const ENDING_TYPES = [[1, 'connect'], [1, 'connack'], [1, 'suback'], [1, 'unsuback'], [1, 'pingresp'], [1, 'disconnect'], [1, 'auth']]
// AUTH exists only in MQTT 5; at levels 3 and 4 its MQTT 5 encoding is sent.
const AUTH_V5 = () => mqttPacket.generate({ cmd: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'SCRAM-SHA-256' } }, { protocolVersion: 5 })

function packetObject (rng, v, cmd, utf8Mark = false) {
  switch (cmd) {
    case 'connect': return connectPacket(rng, v, utf8Mark)
    case 'publish': return publishPacket(rng, v, utf8Mark)
    case 'subscribe': return subscribePacket(rng, v, utf8Mark)
    case 'unsubscribe': return unsubscribePacket(rng, v, utf8Mark)
    case 'puback': case 'pubrec': case 'pubrel': case 'pubcomp': return ackPacket(rng, v, cmd)
    case 'disconnect': return disconnectPacket(rng, v)
    case 'auth': return authPacket(rng)
    case 'pingreq': return { cmd }
    default: return serverOnlyPacket(rng, v, cmd)
  }
}

/** mqtt-packet's encoding; null when it refuses the combination drawn. */
function encode (rng, v, cmd, utf8Mark = false) {
  if (cmd === 'auth' && v !== 5) return AUTH_V5()
  try {
    return mqttPacket.generate(packetObject(rng, v, cmd, utf8Mark), { protocolVersion: v })
  } catch {
    return null
  }
}

// ---------- hand-built MQTT 5 properties ----------

function varint (n) {
  const out = []
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    out.push(byte)
  } while (n > 0)
  return Buffer.from(out)
}

const u16 = (n) => Buffer.from([(n >> 8) & 0xff, n & 0xff])
const str = (s) => { const b = Buffer.isBuffer(s) ? s : Buffer.from(s); return Buffer.concat([u16(b.length), b]) }
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32BE(n >>> 0); return b }

// Property id → a value of its type (spec 2.2.2.2).
const PROPERTY_VALUES = {
  0x01: (rng) => Buffer.from([rng.int(0, 2)]), 0x02: (rng) => u32(rng.int(0, 0xffffffff)), 0x03: () => str('text/plain'),
  0x08: (rng) => str(rng.pick(['fuzz/r', 'fuzz/#', ''])), 0x09: (rng) => str(rng.bytes(rng.int(0, 8))), 0x0b: (rng) => varint(rng.int(0, 268435455)),
  0x11: (rng) => u32(rng.int(0, 100)), 0x12: () => str('id'), 0x13: (rng) => u16(rng.int(0, 100)), 0x15: () => str('SCRAM-SHA-256'),
  0x16: (rng) => str(rng.bytes(4)), 0x17: (rng) => Buffer.from([rng.int(0, 2)]), 0x18: (rng) => u32(rng.int(0, 10)), 0x19: (rng) => Buffer.from([rng.int(0, 2)]),
  0x1a: () => str('info'), 0x1c: () => str('server'), 0x1f: () => str('reason'), 0x21: (rng) => u16(rng.int(0, 65535)), 0x22: (rng) => u16(rng.int(0, 65535)),
  0x23: (rng) => u16(rng.int(0, MAX_TOPIC_ALIAS + 1)), 0x24: (rng) => Buffer.from([rng.int(0, 3)]), 0x25: (rng) => Buffer.from([rng.int(0, 2)]),
  0x26: () => Buffer.concat([str('k'), str('v')]), 0x27: (rng) => u32(rng.int(0, 1 << 20)), 0x28: (rng) => Buffer.from([rng.int(0, 2)]),
  0x29: (rng) => Buffer.from([rng.int(0, 2)]), 0x2a: (rng) => Buffer.from([rng.int(0, 2)]),
}
const PROPERTY_IDS = Object.keys(PROPERTY_VALUES).map(Number)

/** A property block: known ids (some repeated), unknown ids, a value cut short, or a length that lies. */
function fuzzProperties (rng) {
  const parts = []
  for (let i = rng.int(0, 5); i > 0; i--) {
    const id = rng.chance(0.85) ? rng.pick(PROPERTY_IDS) : rng.int(0, 255)
    let value = (PROPERTY_VALUES[id] ?? ((r) => r.bytes(r.int(0, 4))))(rng)
    if (rng.chance(0.1)) value = value.subarray(0, rng.int(0, value.length))
    parts.push(Buffer.from([id]), value)
    if (rng.chance(0.25)) parts.push(Buffer.from([id]), value) // duplicate
  }
  const body = Buffer.concat(parts)
  const length = rng.chance(0.15) ? rng.int(0, body.length + 8) : body.length
  return Buffer.concat([varint(length), body])
}

function frame (first, body) {
  return Buffer.concat([Buffer.from([first]), varint(body.length), body])
}

/** An MQTT 5 packet of a type with properties, its properties from fuzzProperties. */
function propertyPacket (rng, isConnect) {
  const props = fuzzProperties(rng)
  if (isConnect) {
    const flags = 0x02 | (rng.chance(0.3) ? 0x04 : 0)
    const will = flags & 0x04 ? Buffer.concat([fuzzProperties(rng), str('fuzz/will'), str('w')]) : Buffer.alloc(0)
    return frame(0x10, Buffer.concat([str('MQTT'), Buffer.from([5, flags]), u16(30), props, str(`fuzz-${rng.int(0, CLIENT_IDS - 1)}`), will]))
  }
  switch (rng.int(0, 5)) {
    case 0: return frame(0x32, Buffer.concat([str('fuzz/p'), u16(rng.int(1, 65535)), props, Buffer.from('x')]))
    case 1: return frame(0x30, Buffer.concat([str(rng.chance(0.5) ? '' : 'fuzz/p'), props, Buffer.from('x')]))
    case 2: return frame(0x82, Buffer.concat([u16(rng.int(1, 65535)), props, str('fuzz/#'), Buffer.from([rng.int(0, 0x3f)])]))
    case 3: return frame(0x40, Buffer.concat([u16(rng.int(1, 65535)), Buffer.from([0x10]), props]))
    case 4: return frame(0xa2, Buffer.concat([u16(rng.int(1, 65535)), props, str('fuzz/#')]))
    default: return frame(0xe0, Buffer.concat([Buffer.from([0]), props]))
  }
}

// ---------- mutations ----------

/** Offset of the body: 1 + the remaining length's byte count (or the whole buffer when it is cut). */
function headerLength (buf) {
  let i = 1
  while (i < buf.length && i < 5 && (buf[i] & 0x80)) i++
  return Math.min(i + 1, buf.length)
}

// name → (rng, buf, v, cmd) → { bytes, desync } ; desync: the broker's framing of what follows is lost.
const MUTATIONS = {
  bitflip (rng, buf) {
    const out = Buffer.from(buf)
    for (let n = rng.int(1, 3); n > 0; n--) {
      const at = rng.chance(0.3) ? rng.int(0, Math.min(4, out.length - 1)) : rng.int(0, out.length - 1)
      out[at] ^= 1 << rng.int(0, 7)
    }
    return { bytes: out, desync: true }
  },
  truncate (rng, buf) {
    return { bytes: buf.subarray(0, rng.int(1, Math.max(1, buf.length - 1))), desync: true }
  },
  length (rng, buf) {
    const body = buf.subarray(headerLength(buf))
    const declared = rng.pick([0, 1, Math.max(0, body.length - 1), body.length + 1, rng.int(0, 300), rng.int(0, 268435455)])
    const lengthBytes = rng.chance(0.2) ? Buffer.from([0xff, 0xff, 0xff, 0xff, 0x01]) : varint(declared)
    return { bytes: Buffer.concat([buf.subarray(0, 1), lengthBytes, body]), desync: true }
  },
  oversize (rng, buf) {
    const declared = rng.pick([MAX_PACKET_SIZE + 1, 1 << 20, 268435455])
    return { bytes: Buffer.concat([buf.subarray(0, 1), varint(declared), rng.bytes(rng.int(0, 64))]), desync: true }
  },
  flags (rng, buf) {
    const out = Buffer.from(buf)
    out[0] = (out[0] & 0xf0) | rng.int(0, 15)
    return { bytes: out, desync: false }
  },
  type (rng, buf) {
    const out = Buffer.from(buf)
    out[0] = (rng.int(0, 15) << 4) | (out[0] & 0x0f)
    return { bytes: out, desync: false }
  },
  random (rng) {
    return { bytes: rng.bytes(rng.int(1, 64)), desync: true }
  },
  splice (rng, buf, v) {
    const other = encode(rng, v, rng.weighted(STREAM_TYPES)) ?? buf
    return { bytes: Buffer.concat([buf.subarray(0, rng.int(1, buf.length)), other.subarray(rng.int(0, other.length - 1))]), desync: true }
  },
  insert (rng, buf) {
    const at = rng.int(1, buf.length)
    return { bytes: Buffer.concat([buf.subarray(0, at), rng.bytes(rng.int(1, 8)), buf.subarray(at)]), desync: true }
  },
  delete (rng, buf) {
    const at = rng.int(0, buf.length - 1)
    return { bytes: Buffer.concat([buf.subarray(0, at), buf.subarray(Math.min(buf.length, at + rng.int(1, 8)))]), desync: true }
  },
  utf8 (rng, buf, v, cmd) {
    const marked = ['connect', 'publish', 'subscribe', 'unsubscribe'].includes(cmd) ? encode(rng, v, cmd, true) : null
    const at = marked ? marked.indexOf(MARK) : -1
    if (at < 0) return MUTATIONS.bitflip(rng, buf)
    const out = Buffer.from(marked)
    rng.pick(BAD_UTF8).copy(out, at)
    return { bytes: out, desync: false }
  },
  properties (rng, buf, v, cmd) {
    if (v !== 5) return MUTATIONS.flags(rng, buf)
    return { bytes: propertyPacket(rng, cmd === 'connect'), desync: false }
  },
}
const MUTATION_WEIGHTS = [
  [20, 'bitflip'], [8, 'truncate'], [10, 'length'], [5, 'oversize'], [10, 'flags'], [5, 'type'], [6, 'random'],
  [5, 'splice'], [5, 'insert'], [5, 'delete'], [10, 'utf8'], [12, 'properties'],
]

// ---------- the fuzz run ----------

const totals = {
  sent: 0, valid: 0, mutated: 0,
  byType: Object.fromEntries(PACKET_TYPES.map((t) => [t, 0])),
  byMutation: Object.fromEntries(MUTATION_WEIGHTS.map(([, m]) => [m, 0])),
  byVersion: { 3: 0, 4: 0, 5: 0 },
  opened: 0, connectFailed: 0, closedByBroker: 0, closedByFuzzer: 0, connackRefused: 0, batchesAcked: 0, timeouts: 0,
}

/** Reads the broker's packets by their fixed headers: counts CONNACK (with its code) and PINGRESP. */
class ReplyReader {
  constructor () {
    this.buf = Buffer.alloc(0)
    this.connack = null
    this.pingresps = 0
    this.waiter = null
  }

  push (chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk
    for (;;) {
      let len = 0
      let mul = 1
      let i = 1
      for (; i < this.buf.length && i <= 4; i++) {
        len += (this.buf[i] & 0x7f) * mul
        mul *= 128
        if (!(this.buf[i] & 0x80)) break
      }
      if (i >= this.buf.length || this.buf.length < i + 1 + len) break
      const type = this.buf[0] >> 4
      if (type === 2 && this.connack === null) this.connack = this.buf[i + 2] ?? -1
      if (type === 13) this.pingresps++
      this.buf = this.buf.subarray(i + 1 + len)
    }
    this.wake()
  }

  wake () {
    const w = this.waiter
    if (w && w.test()) w.resolve(true)
  }

  /** Resolves true once test() holds, false when the socket closes or the time is up. */
  until (test, closed) {
    if (test()) return Promise.resolve(true)
    return new Promise((resolve) => {
      const waiter = {
        test,
        resolve: (value) => {
          clearTimeout(timer)
          if (this.waiter === waiter) this.waiter = null
          resolve(value)
        },
      }
      const timer = setTimeout(() => { totals.timeouts++; waiter.resolve(false) }, REPLY_TIMEOUT_MS)
      this.waiter = waiter
      closed.then(() => waiter.resolve(false))
    })
  }
}

function count (v, cmd, mutation) {
  totals.sent++
  totals.byVersion[v]++
  if (cmd) totals.byType[cmd]++
  if (mutation) { totals.mutated++; totals.byMutation[mutation]++ } else totals.valid++
}

/** A packet of one of `types`, mutated with probability `rate`; `looseValues` as the variable `loose`. */
function batchPacket (rng, v, types, rate, looseValues = false) {
  const cmd = rng.weighted(types)
  loose = looseValues
  const buf = encode(rng, v, cmd) ?? encode(rng, v, 'pingreq')
  loose = false
  if (!rng.chance(rate)) return { bytes: buf, cmd, mutation: null, desync: false }
  const mutation = rng.weighted(MUTATION_WEIGHTS)
  return { ...MUTATIONS[mutation](rng, buf, v, cmd), cmd, mutation }
}

async function fuzzConnection (rng, broker, options) {
  const v = rng.pick([3, 4, 5])
  const socket = net.connect({ host: HOST, port: broker.port })
  socket.setNoDelay(true)
  let weClosed = false
  let theyClosed = false
  const reader = new ReplyReader()
  const closed = new Promise((resolve) => socket.once('close', resolve))
  socket.on('data', (c) => reader.push(c))
  socket.on('error', () => {})
  socket.on('end', () => { if (!weClosed) theyClosed = true })
  const connected = await Promise.race([
    new Promise((resolve) => socket.once('connect', () => resolve(true))),
    closed.then(() => false),
  ])
  if (!connected) { totals.connectFailed++; return }
  totals.opened++
  const write = (bytes) => { if (!socket.destroyed && !theyClosed) socket.write(bytes) }
  const finish = async () => {
    if (!theyClosed && !socket.destroyed) { weClosed = true; socket.end() }
    const done = await Promise.race([closed.then(() => true), sleep(CLOSE_TIMEOUT_MS).then(() => false)])
    if (!done) socket.destroy()
    if (theyClosed) totals.closedByBroker++
    else totals.closedByFuzzer++
  }

  // CONNECT: valid most of the time, else mutated like any packet.
  let connect = encode(rng, v, 'connect') ??
    mqttPacket.generate({ cmd: 'connect', protocolId: v === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: v, clientId: 'fuzz-fallback', clean: true, keepalive: 0 })
  let mutation = null
  if (rng.chance(options.connectMutationRate)) {
    mutation = rng.weighted(MUTATION_WEIGHTS)
    connect = MUTATIONS[mutation](rng, connect, v, 'connect').bytes
  }
  write(connect)
  count(v, 'connect', mutation)
  const accepted = await reader.until(() => reader.connack !== null, closed)
  if (!accepted || reader.connack !== 0) {
    if (accepted) totals.connackRefused++
    return finish()
  }

  for (let batch = rng.int(1, options.maxBatches); batch > 0 && !theyClosed && totals.sent < options.packets; batch--) {
    const chunks = []
    let desync = false
    const add = (p) => {
      chunks.push(p.bytes)
      count(v, p.cmd, p.mutation)
      desync = p.desync
    }
    for (let n = rng.int(4, options.batchSize); n > 0 && !desync; n--) add(batchPacket(rng, v, STREAM_TYPES, options.mutationRate))
    // The batch's last packet may end the connection: a mutated one, one of a type that ends it, or one with loose values.
    if (!desync && rng.chance(options.enderRate)) {
      add(rng.weighted([
        [6, () => batchPacket(rng, v, [...STREAM_TYPES, ...ENDING_TYPES], 1, rng.chance(0.3))],
        [2, () => ({ ...batchPacket(rng, v, ENDING_TYPES, 0), desync: true })],
        [2, () => batchPacket(rng, v, STREAM_TYPES, 0, true)],
      ])())
    }
    // Now and then a batch arrives in pieces, so packets straddle reads.
    const bytes = Buffer.concat(chunks)
    if (rng.chance(0.1) && bytes.length > 2) {
      const cut = rng.int(1, bytes.length - 1)
      write(bytes.subarray(0, cut))
      await new Promise((resolve) => setImmediate(resolve))
      write(bytes.subarray(cut))
    } else {
      write(bytes)
    }
    if (desync) break
    const expected = reader.pingresps + 1
    write(mqttPacket.generate({ cmd: 'pingreq' }))
    count(v, 'pingreq', null)
    if (!(await reader.until(() => reader.pingresps >= expected, closed))) break
    totals.batchesAcked++
  }
  if (!theyClosed && rng.chance(0.5)) {
    write(mqttPacket.generate(disconnectPacket(rng, v), { protocolVersion: v }))
    count(v, 'disconnect', null)
  }
  return finish()
}

async function fuzz (broker, options) {
  const started = Date.now()
  const deadline = started + options.seconds * 1000
  let connectionIndex = 0
  let peakRss = 0
  let lastProgress = started
  const sampler = setInterval(() => {
    const mem = broker.memory()
    if (mem) peakRss = Math.max(peakRss, mem.rss)
    if (Date.now() - lastProgress >= 10_000) {
      lastProgress = Date.now()
      console.log(`  ${((Date.now() - started) / 1000).toFixed(0)} s: ${totals.sent.toLocaleString('en-US')} packets, ${totals.opened.toLocaleString('en-US')} connections, RSS ${mib(mem?.rss ?? 0)}`)
    }
  }, 200)
  const crashes = []
  const worker = async () => {
    while (totals.sent < options.packets && Date.now() < deadline) {
      if (!broker.alive) {
        if (broker.restarting) { await broker.restarting; continue }
        const exit = broker.child.exitCode ?? broker.child.signalCode
        crashes.push({ exit, stderr: broker.stderrTail.trim().split('\n').slice(-10).join('\n') })
        console.error(`the broker crashed (${exit}); restarting it`)
        broker.restarting = broker.start().finally(() => { broker.restarting = null })
        await broker.restarting
        continue
      }
      await fuzzConnection(makeRng(options.seed * 1_000_003 + connectionIndex++), broker, options)
    }
  }
  await Promise.all(Array.from({ length: options.parallel }, worker))
  clearInterval(sampler)
  return { elapsedS: (Date.now() - started) / 1000, peakRss, crashes }
}

/** A normal MQTT.js client still connects, subscribes, publishes and receives (MQTT 3.1.1 and 5). */
async function finalCheck (port) {
  const { default: mqtt } = await import('mqtt')
  const results = []
  for (const protocolVersion of [4, 5]) {
    const client = mqtt.connect({ host: HOST, port, protocolVersion, clientId: `final-check-${protocolVersion}`, reconnectPeriod: 0, connectTimeout: 5000 })
    try {
      await new Promise((resolve, reject) => { client.once('connect', resolve); client.once('error', reject); setTimeout(() => reject(new Error('no CONNACK within 5 s')), 5000) })
      const topic = `final/check/${protocolVersion}`
      await client.subscribeAsync(topic, { qos: 1 })
      const received = new Promise((resolve, reject) => {
        client.once('message', (t, p) => resolve(`${t} ${p}`))
        setTimeout(() => reject(new Error('message not received within 5 s')), 5000)
      })
      await client.publishAsync(topic, 'still serving', { qos: 1 })
      const got = await received
      results.push({ protocolVersion, ok: got === `${topic} still serving`, detail: got })
    } catch (err) {
      results.push({ protocolVersion, ok: false, detail: err.message })
    } finally {
      await client.endAsync(true).catch(() => {})
    }
  }
  return results
}

// ---------- report ----------

const fmt = (n) => n.toLocaleString('en-US')
const mib = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`

function summarize (options, run, before, after, finalStats, check) {
  const limit = Math.max(before.rss * MEMORY_FACTOR, before.rss + MEMORY_SLACK)
  const memoryOk = after !== null && after.rss <= limit
  const counts = finalStats?.counts ?? { uncaughtExceptions: 0, unhandledRejections: 0, logErrors: 0, errorSamples: [] }
  const m = finalStats?.metrics
  const failures = []
  if (run.crashes.length > 0) failures.push(`${run.crashes.length} broker crash(es)`)
  if (counts.uncaughtExceptions + counts.unhandledRejections > 0) failures.push('unhandled errors in the broker')
  if (counts.logErrors > 0) failures.push(`${counts.logErrors} line(s) logged at error level`)
  if (!memoryOk) failures.push('memory not back to baseline')
  if (finalStats.openSockets !== 0) failures.push('fuzz sockets still open in the broker')
  if (!check.every((c) => c.ok)) failures.push('final check failed')
  if (totals.sent < options.packets) failures.push(`only ${fmt(totals.sent)} of ${fmt(options.packets)} packets sent within ${options.seconds} s`)
  const commit = `${JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version} (${gitRevision(ROOT)})`
  const lines = [
    '## Protocol fuzzing',
    '',
    `Generated ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`${options.command}\` (bench/fuzz.mjs) on ${os.cpus().length} CPUs, Node ${process.version}, Culex ${commit}.`,
    '',
    `- Seed ${options.seed}, ${options.parallel} connections at a time, ${fmt(totals.sent)} packets sent in ${run.elapsedS.toFixed(1)} s (${fmt(Math.round(totals.sent / run.elapsedS))}/s): ${fmt(totals.valid)} valid (mqtt-packet's generate()), ${fmt(totals.mutated)} mutated.`,
    `- By protocol level: 3: ${fmt(totals.byVersion[3])}, 4: ${fmt(totals.byVersion[4])}, 5: ${fmt(totals.byVersion[5])}.`,
    `- By type (before mutation): ${PACKET_TYPES.map((t) => `${t.toUpperCase()} ${fmt(totals.byType[t])}`).join(', ')}.`,
    `- Mutations: ${Object.entries(totals.byMutation).map(([k, n]) => `${k} ${fmt(n)}`).join(', ')}.`,
    `- Connections: ${fmt(totals.opened)} opened, ${fmt(totals.closedByBroker)} closed by the broker, ${fmt(totals.closedByFuzzer)} by the fuzzer; ${fmt(totals.connackRefused)} CONNACKs refusing; ${fmt(totals.batchesAcked)} batches acknowledged by PINGRESP; ${fmt(totals.timeouts)} waits for a reply timed out (${REPLY_TIMEOUT_MS / 1000} s).`,
    m ? `- Broker: ${fmt(m.packetsReceived)} packets decoded and dispatched, ${fmt(m.protocolErrors)} connections closed for a protocol error, ${fmt(m.messagesReceived)} PUBLISH received, ${fmt(m.messagesSent)} sent; sessions ${fmt(finalStats.sessions.connected)} connected / ${fmt(finalStats.sessions.disconnected)} disconnected; ${fmt(finalStats.openSockets)} fuzz sockets still open 10 s after the last one was closed.` : '- Broker: no statistics (it was not running at the end).',
    `- Broker crashes: ${run.crashes.length}. Uncaught exceptions: ${counts.uncaughtExceptions}. Unhandled rejections: ${counts.unhandledRejections}. Lines logged at error level: ${counts.logErrors}.`,
    `- Broker RSS: before ${mib(before.rss)}, peak ${mib(Math.max(run.peakRss, finalStats?.hwm ?? 0))}, after ${after ? mib(after.rss) : 'n/a'} (limit ${mib(limit)} = max(before × ${MEMORY_FACTOR}, before + ${mib(MEMORY_SLACK)}); "after" = all fuzz connections closed, ${SESSION_EXPIRY_S} s session expiry passed, GC, ${SETTLE_MS / 1000} s settle, GC, ${SETTLE_MS / 1000} s settle): ${memoryOk ? 'back to baseline' : 'NOT back to baseline'}. V8 heap used: before ${mib(before.heapUsed)}, after ${after ? mib(after.heapUsed) : 'n/a'}; ArrayBuffers: before ${mib(before.arrayBuffers)}, after ${after ? mib(after.arrayBuffers) : 'n/a'}.`,
    `- Final check (MQTT.js connects, subscribes, publishes QoS 1, receives): ${check.map((c) => `MQTT ${c.protocolVersion === 4 ? '3.1.1' : '5'} ${c.ok ? 'ok' : `FAILED (${c.detail})`}`).join(', ')}.`,
    `- Broker config: \`${JSON.stringify(BROKER_CONFIG)}\`, logger at warning; everything else default.`,
    `- Result: ${failures.length === 0 ? 'PASS' : `FAIL: ${failures.join('; ')}`}.`,
  ]
  for (const c of run.crashes) lines.push('', '```', `crash (${c.exit}):`, c.stderr, '```')
  for (const s of counts.errorSamples) lines.push('', '```', s, '```')
  lines.push('', 'Reproduce: `npm run fuzz` (or `node bench/fuzz.mjs --packets 200000 --seed 7 --no-write`).')
  return { text: lines.join('\n'), failures }
}

function writeReport (report) {
  writeBetweenMarkers(BENCHMARKS_MD, BEGIN_MARKER, END_MARKER, report)
}

// ---------- main ----------

function parseOptions () {
  const { values } = parseArgs({
    options: {
      packets: { type: 'string', default: '1000000' },
      seconds: { type: 'string', default: '300' },
      seed: { type: 'string', default: '1' },
      parallel: { type: 'string', default: '48' },
      'no-write': { type: 'boolean', default: false },
      'heap-snapshots': { type: 'string' },
      child: { type: 'boolean', default: false },
    },
  })
  const num = (name, min, max) => {
    const n = Number(values[name])
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer in [${min}, ${max}], got ${values[name]}`)
    return n
  }
  return {
    child: values.child,
    packets: num('packets', 1, 1e9),
    seconds: num('seconds', 1, 86_400),
    seed: num('seed', 0, 2 ** 31),
    parallel: num('parallel', 1, 1000),
    write: !values['no-write'],
    snapshots: values['heap-snapshots'] ? path.resolve(values['heap-snapshots']) : null,
    mutationRate: 0.04,
    enderRate: 0.6,
    connectMutationRate: 0.08,
    batchSize: 32,
    maxBatches: 12,
    command: process.argv.length > 2 ? `node bench/fuzz.mjs ${process.argv.slice(2).join(' ')}` : 'npm run fuzz',
  }
}

/** With --heap-snapshots: the broker writes a heap snapshot named `name` (after a GC). */
async function snapshot (broker, options, name) {
  if (options.snapshots === null) return
  fs.mkdirSync(options.snapshots, { recursive: true })
  const written = await broker.ask('snapshot', 120_000, { dir: options.snapshots, name })
  console.log(`heap snapshot: ${written?.file ?? 'not written'}`)
}

async function main () {
  const options = parseOptions()
  if (options.child) return runChild()
  if (!fs.existsSync(DIST_INDEX)) throw new Error('dist/index.js not found (npm run build)')
  mqttPacket = (await import('mqtt-packet')).default
  const broker = new BrokerProcess()
  await broker.start()
  const before = await broker.ask('gc')
  await snapshot(broker, options, 'before')
  await sleep(SETTLE_MS)
  const baseline = broker.memory()
  console.log(`fuzzing the broker on port ${broker.port}: up to ${fmt(options.packets)} packets or ${options.seconds} s, ${options.parallel} connections at a time, seed ${options.seed}; RSS ${mib(baseline.rss)}`)
  const run = await fuzz(broker, options)

  // After: every fuzz connection closed (the broker's listener agrees), sessions expired, GC, settle.
  let after = null
  let finalStats = null
  let openAfter = null
  let check = [{ protocolVersion: 4, ok: false, detail: 'the broker is not running' }]
  if (broker.alive) {
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline && (openAfter = (await broker.ask('stats'))?.openSockets ?? 0) > 0) await sleep(100)
    await sleep(SESSION_EXPIRY_S * 1000 + 500)
    // Two rounds: V8 gives emptied heap pages back a few seconds after a GC, when the process is idle.
    await broker.ask('gc')
    await sleep(SETTLE_MS)
    const gc = await broker.ask('gc')
    await sleep(SETTLE_MS)
    after = { ...broker.memory(), heapUsed: gc?.heapUsed ?? 0, arrayBuffers: gc?.arrayBuffers ?? 0 }
    await snapshot(broker, options, 'after')
    check = await finalCheck(broker.port)
    // The final check's clients end with a forced close: give the broker its disconnect of the last one.
    finalStats = await broker.ask('stats')
    const settled = Date.now() + 2000
    while (finalStats && finalStats.sessions.connected !== finalStats.sessions.disconnected && Date.now() < settled) {
      await sleep(50)
      finalStats = await broker.ask('stats')
    }
  }
  const summary = summarize(options, run, { rss: baseline.rss, heapUsed: before?.heapUsed ?? 0, arrayBuffers: before?.arrayBuffers ?? 0 }, after, { ...finalStats, openSockets: openAfter }, check)
  await broker.stop()
  console.log(`\n${summary.text}`)
  if (options.write) {
    writeReport(summary.text)
    console.log(`\nwritten to ${path.relative(process.cwd(), BENCHMARKS_MD)}`)
  }
  if (summary.failures.length > 0) process.exitCode = 1
}

main().catch((err) => {
  console.error(err)
  process.exit(2)
})
