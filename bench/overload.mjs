// Overload run (`npm run bench:overload`): a slowloris of 5,000 idle sockets and a publisher flooding at
// full speed must not stop other clients from being served (issue 9's acceptance), as one bounded run.
//
// The built broker (dist/broker.js) runs as a child process pinned to core 0, this process (and its
// flood worker thread) pinned to core 1. A probe client (MQTT.js, QoS 1, subscribed to its own topic)
// connects first and stays connected; in every phase it sends 500 messages at 100 msg/s and times each
// round trip, while 20 fresh clients connect, one every 250 ms, timed to CONNACK. Phases:
//   baseline  nothing else.
//   held      5,000 sockets that send the first 2 bytes of a CONNECT and nothing more (closed by the
//             broker after mqtt.idle_timeout) and 1,000 clients that complete CONNECT and stay idle
//             (keepalive 0) are opened first; then a 10 s QoS 0 flood from two publishers writing as fast
//             as their sockets take it (one topic without subscribers, one with a subscriber reading at
//             full speed); probe and fresh clients 1 s into the flood, the sockets still held.
//   storm     the same, but the sockets are opened as the flood starts: a connection storm during it.
//   after     everything above closed.
// Broker RSS and CPU come from /proc, its message counters from $SYS (sys_msg_interval 1 s), connection
// attempts dropped on a full accept queue from /proc/net/netstat (ListenOverflows, whole host).
// The table goes to the console and, between the overload markers, to BENCHMARKS.md. The exit code is
// non-zero when the probe loses a message or cannot connect, a fresh client gets no CONNACK within 5 s,
// or the broker exits.
//
//   node bench/overload.mjs [--no-write]
import { spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import mqtt from 'mqtt'
import mqttPacket from 'mqtt-packet'
import { CLOCK_TICKS, coreTicks, freePort, gitRevision, hasExited, processTicks, raiseFileLimit, statusKiB, waitUntilAccepting } from './proc.mjs'
import { writeBetweenMarkers } from './report-file.mjs'
import { culexTcpConfig } from './startup.mjs'

const SELF = fileURLToPath(import.meta.url)
const ROOT = path.resolve(path.dirname(SELF), '..')
const CULEX_ENTRY = path.join(ROOT, 'dist/broker.js')
const BENCHMARKS_MD = path.join(ROOT, 'BENCHMARKS.md')
const HOST = '127.0.0.1'
const BROKER_CORE = '0'
const GENERATOR_CORE = '1'
const BEGIN_MARKER = '<!-- overload:start -->'
const END_MARKER = '<!-- overload:end -->'

// The broker's settings that differ from the schema's defaults (src/config/schema.ts). idle_timeout: long
// enough that sockets opened before the flood are still held when the probe ends (1 + 5 s into it), short
// enough that the broker closes them while the flood still runs.
const IDLE_TIMEOUT_S = 8
const SYS_INTERVAL_S = 1

const PROBE = { messages: 500, perSecond: 100, drainMs: 10_000 }
const FRESH = { clients: 20, everyMs: 250, timeoutMs: 5000 }
// Opening: at most `parallel` connects pending, `perSecond` started per second, none started after `openLimitMs`.
const SLOWLORIS = { sockets: 5000, parallel: 100, perSecond: 2500, connectTimeoutMs: 5000, openLimitMs: 12_000, closeSlackMs: 3000 }
const IDLE_CLIENTS = { clients: 1000, parallel: 50, connackTimeoutMs: 5000, openLimitMs: 12_000 }
const FLOOD = { seconds: 10, payloadBytes: 16, packetsPerWrite: 2048, drainWaitMs: 3000 }
// The probe and the fresh clients start this long after the flood did.
const PROBE_DELAY_MS = 1000
const SETTLE_MS = 2000
const RUN_LIMIT_MS = 120_000
const BROKER_START_TIMEOUT_MS = 10_000
const BROKER_STOP_TIMEOUT_MS = 5_000
// As bench/run.mjs: a phase is "disturbed" when anything else used this much of the two cores, or the hypervisor stole this much.
const INTERFERENCE_WARNING_PCT = 15
const STEAL_WARNING_PCT = 5

const FILES_NEEDED = SLOWLORIS.sockets + IDLE_CLIENTS.clients + FRESH.clients + 100

// ---------- raw MQTT clients (slowloris, idle clients, flood) ----------

const connectPacket = (clientId) =>
  mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, clientId, keepalive: 0 })

/** Counts the broker's packets by type from their fixed headers. */
class FrameCounter {
  constructor () {
    this.carry = null
    this.counts = new Array(16).fill(0)
  }

  push (chunk) {
    const buf = this.carry ? Buffer.concat([this.carry, chunk]) : chunk
    let at = 0
    while (buf.length - at >= 2) {
      let length = 0
      let multiplier = 1
      let i = at + 1
      for (; i < buf.length && i <= at + 4; i++) {
        length += (buf[i] & 0x7f) * multiplier
        multiplier *= 128
        if (!(buf[i] & 0x80)) break
      }
      if (i >= buf.length || i + 1 + length > buf.length) break
      this.counts[buf[at] >> 4]++
      at = i + 1 + length
    }
    this.carry = at < buf.length ? buf.subarray(at) : null
  }
}

/**
 * A TCP socket to the broker with its packets counted. `closedByBroker` is set when the broker ended or
 * reset it before we closed it. `until(test, ms)` resolves whether test() held before close or timeout.
 */
function rawSocket (port, connectTimeoutMs) {
  const socket = net.connect({ host: HOST, port })
  socket.setNoDelay(true)
  const raw = { socket, frames: new FrameCounter(), openedAt: 0, closedAt: 0, closedByBroker: false, weClosed: false, waiters: new Set() }
  raw.closed = new Promise((resolve) => socket.once('close', () => {
    raw.closedAt = performance.now()
    if (!raw.weClosed) raw.closedByBroker = raw.openedAt > 0
    for (const w of raw.waiters) w(false)
    resolve()
  }))
  socket.on('error', () => {})
  socket.on('data', (chunk) => {
    raw.frames.push(chunk)
    for (const w of raw.waiters) w(true)
  })
  raw.until = (test, ms) => {
    if (test()) return Promise.resolve(true)
    if (socket.destroyed) return Promise.resolve(false)
    return new Promise((resolve) => {
      const done = (ok) => { clearTimeout(timer); raw.waiters.delete(check); resolve(ok) }
      const check = (open) => { if (test()) done(true); else if (!open) done(false) }
      const timer = setTimeout(() => done(false), ms)
      raw.waiters.add(check)
    })
  }
  raw.close = () => { raw.weClosed = true; socket.destroy() }
  raw.connected = new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), connectTimeoutMs)
    socket.once('connect', () => { clearTimeout(timer); raw.openedAt = performance.now(); resolve(true) })
    socket.once('close', () => { clearTimeout(timer); resolve(false) })
  })
  return raw
}

/** A raw client past CONNACK (return code 0), or null. */
async function rawClient (port, clientId, timeoutMs) {
  const raw = rawSocket(port, timeoutMs)
  if (await raw.connected) {
    raw.socket.write(connectPacket(clientId))
    if (await raw.until(() => raw.frames.counts[2] > 0, timeoutMs)) return raw
  }
  raw.close()
  return null
}

// ---------- flood (worker thread) ----------

/** Writes the packet, `packetsPerWrite` at a time, whenever the socket takes more, until the deadline. */
async function floodSocket (raw, packet, deadline) {
  const chunk = Buffer.concat(Array(FLOOD.packetsPerWrite).fill(packet))
  let written = 0
  while (performance.now() < deadline && !raw.socket.destroyed) {
    const more = raw.socket.write(chunk)
    written += FLOOD.packetsPerWrite
    if (!more) {
      await new Promise((resolve) => {
        const timer = setTimeout(done, Math.max(0, deadline - performance.now()))
        function done () { clearTimeout(timer); raw.socket.off('drain', done); raw.socket.off('close', done); resolve() }
        raw.socket.once('drain', done)
        raw.socket.once('close', done)
      })
    }
  }
  return written
}

async function floodWorker () {
  const { port } = workerData
  const timeoutMs = 5000
  const sub = await rawClient(port, 'flood-sub', timeoutMs)
  if (sub) {
    sub.socket.write(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/sub', qos: 0 }] }))
    if (!(await sub.until(() => sub.frames.counts[9] > 0, timeoutMs))) sub.close()
  }
  const pubs = [await rawClient(port, 'flood-pub-void', timeoutMs), await rawClient(port, 'flood-pub-sub', timeoutMs)]
  if (!sub || sub.socket.destroyed || pubs.includes(null)) {
    parentPort.postMessage({ error: 'the flood clients could not connect' })
    for (const raw of [sub, ...pubs]) raw?.close()
    return
  }
  const payload = Buffer.alloc(FLOOD.payloadBytes, 'x')
  const packets = ['flood/void', 'flood/sub'].map((topic) => mqttPacket.generate({ cmd: 'publish', topic, payload, qos: 0, retain: false, dup: false }))
  parentPort.postMessage({ ready: true })
  await new Promise((resolve) => parentPort.once('message', resolve))

  const deadline = performance.now() + FLOOD.seconds * 1000
  const written = await Promise.all(pubs.map((raw, i) => floodSocket(raw, packets[i], deadline)))
  const endedAt = performance.now()
  // Publishers end cleanly (what they wrote is still sent); the subscriber gets what is on its way.
  for (const raw of pubs) { raw.weClosed = true; raw.socket.end() }
  const received = () => sub.frames.counts[3]
  let last = -1
  while (performance.now() - endedAt < FLOOD.drainWaitMs && received() !== last) {
    last = received()
    await sleep(300)
  }
  const result = {
    written: { void: written[0], sub: written[1] },
    received: received(),
    subscriberClosedByBroker: sub.closedByBroker,
    publishersClosedByBroker: pubs.filter((raw) => raw.closedByBroker).length,
  }
  for (const raw of [sub, ...pubs]) raw.close()
  parentPort.postMessage({ result })
}

/** Starts the flood worker; resolves once its clients are connected, with go() starting the flood. */
async function prepareFlood (port) {
  const worker = new Worker(SELF, { workerData: { port } })
  const messages = []
  let wake = null
  worker.on('message', (msg) => { messages.push(msg); wake?.() })
  worker.on('error', (err) => { messages.push({ error: err.message }); wake?.() })
  worker.on('exit', () => { messages.push({ error: 'the flood worker exited' }); wake?.() })
  const next = async () => {
    while (messages.length === 0) await new Promise((resolve) => { wake = resolve })
    return messages.shift()
  }
  const ready = await next()
  if (ready.error) throw new Error(ready.error)
  return {
    go () {
      worker.postMessage('go')
      return next().then((msg) => {
        if (msg.error) throw new Error(msg.error)
        return msg.result
      })
    },
    stop: () => worker.terminate(),
  }
}

// ---------- slowloris and idle clients ----------

/** Opens the slowloris sockets (2 bytes of a CONNECT each) at a bounded rate; `opened` resolves when done. */
function startSlowloris (port) {
  const half = connectPacket('slowloris').subarray(0, 2)
  const sockets = []
  let next = 0
  const startedAt = performance.now()
  let failed = 0
  const opener = async () => {
    while (next < SLOWLORIS.sockets && performance.now() - startedAt < SLOWLORIS.openLimitMs) {
      const i = next++
      const wait = startedAt + (i * 1000) / SLOWLORIS.perSecond - performance.now()
      if (wait > 0) await sleep(wait)
      const raw = rawSocket(port, SLOWLORIS.connectTimeoutMs)
      if (await raw.connected) {
        raw.socket.write(half)
        sockets.push(raw)
      } else {
        failed++
        raw.close()
      }
    }
  }
  const opened = Promise.all(Array.from({ length: SLOWLORIS.parallel }, opener))
    .then(() => ({ openSeconds: (performance.now() - startedAt) / 1000, lastOpenedAt: performance.now() }))
  return { sockets, opened, failed: () => failed, held: () => sockets.filter((raw) => !raw.closedAt).length }
}

/** Waits (bounded) until the broker closed every slowloris socket; closes the rest; returns the counts. */
async function finishSlowloris (slowloris) {
  const { openSeconds, lastOpenedAt } = await slowloris.opened
  const deadline = lastOpenedAt + IDLE_TIMEOUT_S * 1000 + SLOWLORIS.closeSlackMs
  const sockets = slowloris.sockets
  while (performance.now() < deadline && sockets.some((raw) => !raw.closedAt)) await sleep(100)
  const closedAfter = sockets.filter((raw) => raw.closedByBroker).map((raw) => (raw.closedAt - raw.openedAt) / 1000).sort((a, b) => a - b)
  for (const raw of sockets) if (!raw.closedAt) raw.close()
  return {
    opened: sockets.length,
    notTried: SLOWLORIS.sockets - sockets.length - slowloris.failed(),
    failed: slowloris.failed(),
    openSeconds,
    closedByBroker: closedAfter.length,
    closedAfterS: closedAfter.length ? { min: closedAfter[0], p50: percentile(closedAfter, 50), max: closedAfter.at(-1) } : null,
  }
}

/** Opens the idle clients; `clients` fills as they get their CONNACK, `done` resolves when all were tried. */
function openIdleClients (port) {
  const clients = []
  let next = 0
  const startedAt = performance.now()
  const opener = async () => {
    while (next < IDLE_CLIENTS.clients && performance.now() - startedAt < IDLE_CLIENTS.openLimitMs) {
      const raw = await rawClient(port, `idle-${next++}`, IDLE_CLIENTS.connackTimeoutMs)
      if (raw) clients.push(raw)
    }
  }
  return { clients, done: Promise.all(Array.from({ length: IDLE_CLIENTS.parallel }, opener)) }
}

// ---------- probe and fresh clients (MQTT.js) ----------

/** An MQTT.js client once connected; rejects on error, close or after timeoutMs. */
function mqttClient (port, clientId, timeoutMs) {
  const client = mqtt.connect({ host: HOST, port, protocolVersion: 4, clientId, clean: true, keepalive: 30, reconnectPeriod: 0, connectTimeout: timeoutMs })
  // MQTT.js leaves Nagle on: with delayed ACKs that adds up to 40 ms to a round trip, whatever the broker does.
  client.stream.setNoDelay?.(true)
  return new Promise((resolve, reject) => {
    const fail = (reason) => { clearTimeout(timer); client.end(true); reject(new Error(reason)) }
    const timer = setTimeout(() => fail(`no CONNACK within ${timeoutMs / 1000} s`), timeoutMs)
    client.once('connect', () => { clearTimeout(timer); resolve(client) })
    client.once('error', (err) => fail(err.message))
    client.once('close', () => fail('connection closed before CONNACK'))
  })
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]

/** The probe: one client, connected before the first phase, subscribed at QoS 1 to its own topic. */
async function connectProbe (port) {
  const client = await mqttClient(port, 'overload-probe', FRESH.timeoutMs)
  const topic = 'overload/probe'
  await client.subscribeAsync(topic, { qos: 1 })
  const probe = { client, topic, onMessage: null, closedAt: null }
  client.on('message', (_topic, payload) => probe.onMessage?.(payload.toString()))
  client.once('close', () => { probe.closedAt ??= performance.now() })
  return probe
}

/** QoS 1 round trips of `PROBE.messages` messages, sent at a fixed rate whatever comes back. */
async function runProbe (probe, phase) {
  if (!probe.client) return { connected: false, error: probe.error, lost: PROBE.messages }
  if (probe.closedAt) return { connected: false, error: 'the probe\'s connection was closed', lost: PROBE.messages }
  const sentAt = new Array(PROBE.messages)
  const rtts = new Map()
  let allIn = null
  const everything = new Promise((resolve) => { allIn = resolve })
  probe.onMessage = (text) => {
    const [from, index] = text.split(':')
    const i = Number(index)
    if (from !== phase || sentAt[i] === undefined || rtts.has(i)) return
    rtts.set(i, performance.now() - sentAt[i])
    if (rtts.size === PROBE.messages) allIn()
  }
  let pubackErrors = 0
  const startedAt = performance.now()
  for (let i = 0; i < PROBE.messages && !probe.closedAt; i++) {
    const wait = startedAt + (i * 1000) / PROBE.perSecond - performance.now()
    if (wait > 0) await sleep(wait)
    sentAt[i] = performance.now()
    probe.client.publish(probe.topic, `${phase}:${i}`, { qos: 1 }, (err) => { if (err) pubackErrors++ })
  }
  await Promise.race([everything, sleep(PROBE.drainMs)])
  probe.onMessage = null
  const sorted = [...rtts.values()].sort((a, b) => a - b)
  return {
    connected: true,
    error: probe.closedAt ? 'the probe\'s connection was closed' : undefined,
    received: rtts.size,
    lost: PROBE.messages - rtts.size,
    pubackErrors,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1),
  }
}

/** Time to CONNACK of fresh clients, one started every FRESH.everyMs whether the last one is through or not. */
async function freshClients (port, phase) {
  const startedAt = performance.now()
  const one = async (i) => {
    const wait = startedAt + i * FRESH.everyMs - performance.now()
    if (wait > 0) await sleep(wait)
    const begin = performance.now()
    try {
      const client = await mqttClient(port, `fresh-${phase}-${i}`, FRESH.timeoutMs)
      const ms = performance.now() - begin
      client.end(true)
      return { ms }
    } catch (err) {
      return { error: err.message }
    }
  }
  const results = await Promise.all(Array.from({ length: FRESH.clients }, (_, i) => one(i)))
  const times = results.filter((r) => r.ms !== undefined).map((r) => r.ms).sort((a, b) => a - b)
  return { connected: times.length, failed: results.filter((r) => r.error).map((r) => r.error), p50: percentile(times, 50), max: times.at(-1) }
}

/** Keeps the latest $SYS metrics the broker publishes (every SYS_INTERVAL_S). */
async function sysObserver (port) {
  const client = await mqttClient(port, 'overload-sys-observer', FRESH.timeoutMs)
  const latest = {}
  client.on('message', (topic, payload) => { latest[topic.split('/').pop()] = Number(payload.toString()) })
  await client.subscribeAsync('$SYS/brokers/+/metrics/+', { qos: 0 })
  return { snapshot: () => ({ ...latest }), close: () => client.end(true) }
}

// ---------- /proc sampling ----------


/** VmRSS in kB, 0 once the process is gone. */
function rssKiB (pid) {
  try {
    return statusKiB(pid, 'VmRSS') ?? 0
  } catch {
    return 0
  }
}

/** TcpExt ListenOverflows: connection attempts dropped because an accept queue was full (whole host). */
function listenOverflows () {
  const lines = fs.readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((line) => line.startsWith('TcpExt:'))
  if (lines.length < 2) return null
  const names = lines[0].split(/\s+/)
  const values = lines[1].split(/\s+/)
  const at = names.indexOf('ListenOverflows')
  return at > 0 ? Number(values[at]) : null
}

/** CPU of broker and generator, the broker's peak RSS and accept-queue overflows from start to stop(). */
function sampler (brokerPid) {
  const take = () => ({ at: performance.now(), broker: processTicks(brokerPid), generator: processTicks(process.pid), cores: coreTicks([BROKER_CORE, GENERATOR_CORE]), overflows: listenOverflows() })
  const begin = take()
  let peak = rssKiB(brokerPid)
  const timer = setInterval(() => { peak = Math.max(peak, rssKiB(brokerPid)) }, 200)
  return {
    stop () {
      clearInterval(timer)
      const end = take()
      const seconds = (end.at - begin.at) / 1000
      const pct = (ticks) => (100 * ticks) / CLOCK_TICKS / seconds
      const broker = pct(end.broker - begin.broker)
      const generator = pct(end.generator - begin.generator)
      const rss = rssKiB(brokerPid)
      return {
        seconds,
        broker,
        generator,
        other: Math.max(0, pct(end.cores.busy - begin.cores.busy) - broker - generator),
        steal: pct(end.cores.steal - begin.cores.steal),
        rssPeakKiB: Math.max(peak, rss),
        rssEndKiB: rss,
        listenOverflows: end.overflows !== null && begin.overflows !== null ? end.overflows - begin.overflows : null,
      }
    },
  }
}

// ---------- the broker ----------

function brokerConfig (port, dataDir) {
  return culexTcpConfig(port, dataDir) + [
    'durable_storage.backend = memory',
    `mqtt.idle_timeout = ${IDLE_TIMEOUT_S}s`,
    `sys_topics.sys_msg_interval = ${SYS_INTERVAL_S}s`,
    '',
  ].join('\n')
}

const hasTaskset = () => !spawnSync('taskset', ['-V']).error

function startBroker (port, dir) {
  const config = path.join(dir, 'culex.hocon')
  fs.writeFileSync(config, brokerConfig(port, dir))
  const args = [CULEX_ENTRY, '-c', config]
  const child = hasTaskset()
    ? spawn('taskset', ['-c', BROKER_CORE, process.execPath, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  child.lines = []
  child.tail = ''
  const onOutput = (chunk) => {
    child.tail = (child.tail + chunk).slice(-4000)
    for (const line of String(chunk).split('\n')) if (line.trim()) child.lines.push(line)
  }
  child.stdout.setEncoding('utf8').on('data', onOutput)
  child.stderr.setEncoding('utf8').on('data', onOutput)
  child.exitPromise = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  return child
}


async function stopBroker (child) {
  if (hasExited(child)) return
  child.kill('SIGTERM')
  const exited = await Promise.race([child.exitPromise, sleep(BROKER_STOP_TIMEOUT_MS).then(() => null)])
  if (!exited) {
    child.kill('SIGKILL')
    await child.exitPromise
  }
}

// ---------- file limits and pinning ----------

/** Pins every thread of this process (the flood worker inherits it) to the generator core. */
function pinSelf () {
  if (os.cpus().length < 2 || !hasTaskset()) return false
  return spawnSync('taskset', ['-a', '-cp', GENERATOR_CORE, String(process.pid)]).status === 0
}

// ---------- phases ----------

async function quietPhase (name, port, brokerPid, probe) {
  const sample = sampler(brokerPid)
  const [probeResult, fresh] = await Promise.all([runProbe(probe, name), freshClients(port, name)])
  return { name, probe: probeResult, fresh, cpu: sample.stop() }
}

/**
 * Slowloris, idle clients and flood. held: the sockets are opened before the flood and held through it;
 * storm: they are opened as the flood starts. Probe and fresh clients run 1 s into the flood.
 */
async function overloadPhase (name, port, brokerPid, probe, sys, storm) {
  const flood = await prepareFlood(port)
  let slowloris = null
  let idle = null
  const open = () => { slowloris = startSlowloris(port); idle = openIdleClients(port) }
  if (!storm) {
    open()
    await Promise.all([slowloris.opened, idle.done])
  }
  const before = sys.snapshot()
  const sample = sampler(brokerPid)
  const floodResult = flood.go()
  if (storm) open()
  await sleep(PROBE_DELAY_MS)
  const heldAtProbeStart = slowloris.held()
  const [probeResult, fresh] = await Promise.all([runProbe(probe, name), freshClients(port, name)])
  const heldAtProbeEnd = slowloris.held()
  let floodFigures
  try {
    floodFigures = await floodResult
  } finally {
    await flood.stop()
  }
  const cpu = sample.stop()
  await idle.done
  const slow = await finishSlowloris(slowloris)
  // The broker's counters, one $SYS interval after the flood's end.
  await sleep(SYS_INTERVAL_S * 1000 + 200)
  const after = sys.snapshot()
  const idleStillOpen = idle.clients.filter((raw) => !raw.closedAt).length
  for (const raw of idle.clients) raw.close()
  const delta = (key) => (after[key] !== undefined && before[key] !== undefined ? after[key] - before[key] : null)
  return {
    name,
    storm,
    probe: probeResult,
    fresh,
    cpu,
    flood: { ...floodFigures, brokerReceived: delta('messages.received'), brokerSent: delta('messages.sent'), brokerDropped: delta('messages.dropped') },
    slowloris: { ...slow, heldAtProbeStart, heldAtProbeEnd },
    idle: { connected: idle.clients.length, stillOpen: idleStillOpen },
  }
}

// ---------- report ----------

const fmtInt = (n) => (n == null ? 'n/a' : Math.round(n).toLocaleString('en-US'))
const fmtMs = (n) => (n == null ? 'n/a' : n < 10 ? n.toFixed(1) : fmtInt(n))
const fmtMiB = (kib) => (kib == null ? 'n/a' : `${(kib / 1024).toFixed(1)} MiB`)
const fmtPct = (n) => `${Math.round(n)}%`
const isDisturbed = (phase) => phase.cpu.other >= INTERFERENCE_WARNING_PCT || phase.cpu.steal >= STEAL_WARNING_PCT

function table (header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n')
}

function probeCell (probe) {
  if (!probe.connected) return `not connected (${probe.error})`
  if (probe.error) return `failed: ${probe.error}`
  return `${fmtMs(probe.p50)} / ${fmtMs(probe.p99)} / ${fmtMs(probe.max)}`
}

function freshCell (fresh) {
  const failed = fresh.failed.length ? `, ${fresh.failed.length} failed` : ''
  return fresh.connected ? `${fmtMs(fresh.p50)} / ${fmtMs(fresh.max)}${failed}` : `none connected${failed}`
}

function resultsTable (phases) {
  const rows = phases.map((p) => [
    `${p.name}${isDisturbed(p) ? ' \\*' : ''}`,
    probeCell(p.probe),
    `${p.probe.lost}`,
    freshCell(p.fresh),
    `${fmtMiB(p.cpu.rssPeakKiB)} / ${fmtMiB(p.cpu.rssEndKiB)}`,
    fmtPct(p.cpu.broker),
    p.flood ? fmtInt(p.flood.written.void + p.flood.written.sub) : '–',
    p.slowloris ? `${fmtInt(p.slowloris.heldAtProbeStart)} → ${fmtInt(p.slowloris.heldAtProbeEnd)}` : '–',
    p.slowloris ? `${fmtInt(p.slowloris.closedByBroker)} of ${fmtInt(p.slowloris.opened)}` : '–',
    fmtInt(p.cpu.listenOverflows),
  ])
  return table([
    'Phase', 'Probe round trip p50 / p99 / max (ms)', 'Probe lost', `CONNACK, ${FRESH.clients} fresh clients, p50 / max (ms)`,
    'Broker RSS peak / end', 'Broker CPU', 'Messages flooded', 'Slowloris sockets held, probe start → end',
    'Slowloris sockets closed by the broker', 'Accept queue overflows',
  ], rows)
}

const STORM_NOTE = 'The storm phase (a connection flood of 2,500 new sockets a second during the message flood) is reported, not judged: ' +
  'Node 20\'s libuv accepts one connection per event-loop turn (libuv PR #3696), so such a flood keeps the 1,024-slot accept queue full ' +
  'and new clients wait in SYN retries. Several listening sockets on one port (reusePort, Node ≥ 22.12) or accepting in another process would lift it.'

function failuresOf (phases, broker) {
  const failures = []
  for (const p of phases) {
    if (!p.probe.connected) failures.push(`${p.name}: the probe was not connected (${p.probe.error})`)
    else if (p.probe.error) failures.push(`${p.name}: ${p.probe.error}`)
    if (p.probe.lost > 0) failures.push(`${p.name}: the probe lost ${p.probe.lost} of ${PROBE.messages} messages`)
    // The storm is reported, not judged: see STORM_NOTE.
    if (p.fresh.failed.length && p.name !== 'storm') failures.push(`${p.name}: ${p.fresh.failed.length} of ${FRESH.clients} fresh clients got no CONNACK within ${FRESH.timeoutMs / 1000} s (${[...new Set(p.fresh.failed)].join('; ')})`)
  }
  if (hasExited(broker)) failures.push(`the broker exited (${broker.exitCode ?? broker.signalCode})`)
  return failures
}

function machine () {
  const cpuModel = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU'
  const version = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version
  return `${os.cpus().length} CPUs (${cpuModel}), ${os.type()} ${os.release()}; Node ${process.version}, Culex ${version} (${gitRevision(ROOT)})`
}

function slowlorisLine (p) {
  const slow = p.slowloris
  const after = slow.closedAfterS ? ` ${slow.closedAfterS.min.toFixed(1)}–${slow.closedAfterS.max.toFixed(1)} s after they connected (median ${slow.closedAfterS.p50.toFixed(1)} s)` : ''
  const missing = [slow.failed ? `${fmtInt(slow.failed)} failed to connect within ${SLOWLORIS.connectTimeoutMs / 1000} s` : '', slow.notTried ? `${fmtInt(slow.notTried)} not tried within ${SLOWLORIS.openLimitMs / 1000} s` : ''].filter(Boolean).join(', ')
  return `${p.name}: ${fmtInt(slow.opened)} opened in ${slow.openSeconds.toFixed(1)} s${missing ? ` (${missing})` : ''}, ${fmtInt(slow.closedByBroker)} closed by the broker${after}; ` +
    `idle clients: ${fmtInt(p.idle.connected)} of ${fmtInt(IDLE_CLIENTS.clients)} got their CONNACK, ${fmtInt(p.idle.stillOpen)} still connected at the end`
}

function floodLine (p) {
  const f = p.flood
  const closed = [f.subscriberClosedByBroker ? 'the subscriber' : '', f.publishersClosedByBroker ? `${f.publishersClosedByBroker} publisher(s)` : ''].filter(Boolean).join(' and ')
  return `${p.name}: ${fmtInt(f.written.void)} to \`flood/void\`, ${fmtInt(f.written.sub)} to \`flood/sub\`, its subscriber received ${fmtInt(f.received)}${closed ? `; ${closed} disconnected by the broker` : ''}; ` +
    `broker counters ${fmtInt(f.brokerReceived)} received, ${fmtInt(f.brokerSent)} sent, ${fmtInt(f.brokerDropped)} dropped`
}

function renderReport (phases, run) {
  const overloads = phases.filter((p) => p.flood)
  const lines = [
    '## Overload: slowloris and flood',
    '',
    `Generated ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`${run.command}\` (bench/overload.mjs) in ${run.seconds.toFixed(0)} s. ${machine()}.`,
    '',
    resultsTable(phases),
    '',
    ...(phases.some(isDisturbed) ? [`\\* Disturbed: other processes used ≥ ${INTERFERENCE_WARNING_PCT}% or the hypervisor stole ≥ ${STEAL_WARNING_PCT}% of the two cores during the phase (see CPU below).`, ''] : []),
    `- Result: ${run.failures.length === 0 ? 'PASS' : `FAIL: ${run.failures.join('; ')}`}.`,
    `- ${STORM_NOTE}`,
    `- Phases: baseline (nothing else); held (slowloris sockets and idle clients opened first, then the flood; probe and fresh clients 1 s into the flood, the sockets still held); storm (the same sockets opened as the flood starts); after (everything closed).`,
    `- Probe: one MQTT.js client (MQTT 3.1.1), connected before the first phase, subscribed at QoS 1 to its own topic, publishes ${PROBE.messages} QoS 1 messages per phase at ${PROBE.perSecond} msg/s, each timed from publish() to its delivery back; lost = not delivered within ${PROBE.drainMs / 1000} s of the last send. Fresh clients: ${FRESH.clients} MQTT.js clients per phase, one started every ${FRESH.everyMs} ms alongside the probe, timed from connect() to CONNACK (failed after ${FRESH.timeoutMs / 1000} s). TCP_NODELAY on both (MQTT.js leaves Nagle on).`,
    `- Slowloris: ${fmtInt(SLOWLORIS.sockets)} sockets (at most ${SLOWLORIS.parallel} connecting at once, ${fmtInt(SLOWLORIS.perSecond)} started per second), each sending the first 2 bytes of a CONNECT and then nothing; \`mqtt.idle_timeout = ${IDLE_TIMEOUT_S}s\` (the broker checks every 500 ms; waited until ${IDLE_TIMEOUT_S + SLOWLORIS.closeSlackMs / 1000} s after the last was opened). Idle clients: ${fmtInt(IDLE_CLIENTS.clients)} raw sockets completing an MQTT 3.1.1 CONNECT (keepalive 0, ${IDLE_CLIENTS.parallel} at a time), then silent.`,
    ...overloads.map((p) => `  - ${slowlorisLine(p)}.`),
    `- Flood: ${FLOOD.seconds} s, two publishers writing ${FLOOD.payloadBytes}-byte QoS 0 PUBLISH packets, ${fmtInt(FLOOD.packetsPerWrite)} per write, whenever their socket drains: one to \`flood/void\` (no subscriber), one to \`flood/sub\` (one subscriber, a raw socket reading at full speed). Broker counters: $SYS, over the phase, probe and $SYS traffic included; dropped = QoS 0 not sent to a client whose unsent data was over mqtt.max_write_buffer.`,
    ...overloads.map((p) => `  - ${floodLine(p)}.`),
    `- Accept queue overflows: TcpExt ListenOverflows from /proc/net/netstat over the phase (whole host): connection attempts the kernel dropped because the broker's accept queue (tcp_options.backlog 1024) was full.`,
    `- CPU (100% = one core) over each phase's measuring window (flood phases: from the flood's start to its end): ${phases.map((p) => `${p.name} broker ${fmtPct(p.cpu.broker)}, generator ${fmtPct(p.cpu.generator)}, other ${fmtPct(p.cpu.other)}, steal ${fmtPct(p.cpu.steal)}`).join('; ')}. RSS: the broker's VmRSS, peak sampled every 200 ms.`,
    `- Broker: \`node dist/broker.js -c <tmp>/culex.hocon\` ${run.pinned ? `pinned to core ${BROKER_CORE}, this generator (probe, clients, flood worker thread) to core ${GENERATOR_CORE}` : 'not pinned (taskset unavailable or one CPU)'}; config \`${brokerConfig('<port>', '<tmp>').trim().split('\n').join('`, `')}\`; every limit at the schema's default (no rate or connection limits, max_write_buffer 8MB). Log lines at warning or above during the run: ${fmtInt(run.brokerLogLines)}.`,
    '',
    `Reproduce: \`npm run bench:overload\` (or \`node bench/overload.mjs --no-write\`); needs 2 cores, util-linux \`taskset\` and an open-files limit of ${fmtInt(FILES_NEEDED)} (\`ulimit -n\`).`,
  ]
  return lines.join('\n')
}

// ---------- main ----------

async function main () {
  const { values } = parseArgs({ options: { 'no-write': { type: 'boolean', default: false } } })
  if (!fs.existsSync(CULEX_ENTRY)) throw new Error('dist/broker.js not found (npm run build)')
  raiseFileLimit(process.pid, FILES_NEEDED, 'this process')
  const pinned = pinSelf()
  if (!pinned) console.warn('warning: not pinned to separate cores (needs 2 CPUs and taskset); figures are less comparable')
  const port = await freePort(HOST)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'culex-overload-'))
  const broker = startBroker(port, dir)
  const stopAll = () => { if (!hasExited(broker)) broker.kill('SIGKILL') }
  process.on('exit', () => { stopAll(); fs.rmSync(dir, { recursive: true, force: true }) })
  const watchdog = setTimeout(() => {
    console.error(`overload: the run exceeded ${RUN_LIMIT_MS / 1000} s; stopping`)
    stopAll()
    process.exit(1)
  }, RUN_LIMIT_MS).unref()

  const started = performance.now()
  await waitUntilAccepting(broker, HOST, port, BROKER_START_TIMEOUT_MS, (child) => `the broker exited during start-up: ${child.tail.trim().split('\n').slice(-5).join(' | ')}`)
  raiseFileLimit(broker.pid, FILES_NEEDED, 'the broker')
  const logLinesAtStart = broker.lines.length
  const sys = await sysObserver(port)
  const probe = await connectProbe(port).catch((err) => ({ client: null, error: err.message }))
  console.log(`broker on ${HOST}:${port} (pid ${broker.pid})`)

  const phases = []
  const run = async (phase) => {
    const result = await phase()
    phases.push(result)
    const slow = result.slowloris ? `; slowloris held ${fmtInt(result.slowloris.heldAtProbeStart)} → ${fmtInt(result.slowloris.heldAtProbeEnd)}, closed by the broker ${fmtInt(result.slowloris.closedByBroker)} of ${fmtInt(result.slowloris.opened)}` : ''
    console.log(`${result.name.padEnd(9)} probe ${probeCell(result.probe)} ms, lost ${result.probe.lost}; CONNACK ${freshCell(result.fresh)} ms; broker CPU ${fmtPct(result.cpu.broker)}, RSS peak ${fmtMiB(result.cpu.rssPeakKiB)}; accept queue overflows ${fmtInt(result.cpu.listenOverflows)}${slow}` +
      (isDisturbed(result) ? `  DISTURBED (other ${fmtPct(result.cpu.other)}, steal ${fmtPct(result.cpu.steal)})` : ''))
  }
  await run(() => quietPhase('baseline', port, broker.pid, probe))
  await run(() => overloadPhase('held', port, broker.pid, probe, sys, false))
  await sleep(SETTLE_MS)
  await run(() => overloadPhase('storm', port, broker.pid, probe, sys, true))
  await sleep(SETTLE_MS)
  await run(() => quietPhase('after', port, broker.pid, probe))
  probe.client?.end(true)
  sys.close()

  const failures = failuresOf(phases, broker)
  const brokerLogLines = broker.lines.length - logLinesAtStart
  for (const line of broker.lines.slice(logLinesAtStart, logLinesAtStart + 5)) console.log(`broker: ${line}`)
  await stopBroker(broker)
  clearTimeout(watchdog)
  const command = process.argv.length > 2 ? `node bench/overload.mjs ${process.argv.slice(2).join(' ')}` : 'npm run bench:overload'
  const text = renderReport(phases, { command, seconds: (performance.now() - started) / 1000, failures, pinned, brokerLogLines })
  console.log(`\n${text}`)
  if (!values['no-write']) {
    writeBetweenMarkers(BENCHMARKS_MD, BEGIN_MARKER, END_MARKER, text)
    console.log(`\nwritten to ${path.relative(process.cwd(), BENCHMARKS_MD) || BENCHMARKS_MD}`)
  }
  if (failures.length > 0) process.exitCode = 1
}

if (isMainThread) {
  main().catch((err) => {
    console.error(`overload: ${err.message}`)
    process.exit(1)
  })
} else {
  floodWorker().catch((err) => parentPort.postMessage({ error: err.message }))
}
