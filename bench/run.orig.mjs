// Benchmark runner: Culex vs Mosquitto vs aedes in one run (`npm run bench`); in the TLS scenarios also
// "Node TLS floor" (bench/peers/node-tls-floor.mjs), the least a Node.js MQTT-over-TLS server can do.
//
// For every scenario and broker: start a fresh broker pinned to core 0, run
// bench/loadgen (or, for the TLS scenarios, bench/tls-storm) pinned to core 1,
// sample CPU time of both and the broker's RSS around the load generator's
// measuring window, record the broker's peak RSS, stop the broker.
// The start-up scenario instead times spawn → accepting TCP connections (bench/startup.mjs).
// Results go to the console and, between the markers, to BENCHMARKS.md.
//
//   node bench/run.mjs [--only culex,mosquitto,aedes,node-tls-floor] [--scenarios fanin0,latency,tls-idle-1k]
//                      [--duration 4] [--no-write]
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { CLOCK_TICKS, buildC, coreTicks, cpuPercentages, freePort, gitRevision, hasExited, raiseFileLimit, sampleCpu, statusKiB, waitUntilAccepting } from './proc.mjs'
import { writeBetweenMarkers } from './report-file.mjs'
import { STARTUP_RUNS, culexDefaultConfig, culexPrepare, culexTcpConfig, makeCulexCertificates, measureStartups, summarize } from './startup.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const LOADGEN_SRC = path.join(ROOT, 'bench/loadgen.c')
const LOADGEN_BIN = path.join(ROOT, 'bench/loadgen')
const TLS_STORM_SRC = path.join(ROOT, 'bench/tls-storm.c')
const TLS_STORM_BIN = path.join(ROOT, 'bench/tls-storm')
const CULEX_ENTRY = path.join(ROOT, 'dist/broker.js')
const BENCHMARKS_MD = path.join(ROOT, 'BENCHMARKS.md')
const MOSQUITTO = '/usr/sbin/mosquitto'
const REDIS_SERVER = '/usr/bin/redis-server'
const HOST = '127.0.0.1'
const BROKER_CORE = '0'
const LOADGEN_CORE = '1'

// Must match the defaults of bench/loadgen.c; they only feed the method paragraph.
const LOADGEN_DEFAULTS = { payloadBytes: 16, inflight: 300, warmupS: 1, drainS: 10, setupTimeoutS: 5 }
const LATENCY_RATE = 5000
// TLS handshake storm: after a warm-up, start connections for this long or until this many were started.
const LATENCY_WINDOWS = 5
const TLS_STORM = { parallel: 32, warmup: 100, connections: 3000, durationS: 3 }
// Idle TLS connections: at most this many handshakes in flight while opening, then this long idle.
// Mosquitto listens with a backlog of 100; more in flight only overflows it (the load generator,
// at about 1 ms of CPU per handshake, limits the opening rate anyway).
const TLS_IDLE = { parallel: 100, idleS: 2 }
// bench/tls-storm gives up on connections still unfinished after this long.
const TLS_TIMEOUT_S = 25
const BROKER_START_TIMEOUT_MS = 10_000
const BROKER_STOP_TIMEOUT_MS = 5_000
// A run is "disturbed" when, during its window, anything but broker and load
// generator used this much of the two benchmark cores, or the hypervisor stole this much.
const INTERFERENCE_WARNING_PCT = 15
const STEAL_WARNING_PCT = 5
// Above this the load generator itself may be what limits the figure.
const LOADGEN_SATURATED_PCT = 90

const BEGIN_MARKER = '<!-- bench:begin -->'
const END_MARKER = '<!-- bench:end -->'

function throughput (name, label, unit, kind, qos) {
  return { name, label, unit, qos, args: ['--scenario', kind, '--qos', String(qos)] }
}

function tlsHandshake (name, label, key) {
  const { parallel, warmup, connections, durationS } = TLS_STORM
  return {
    name, label, unit: 'µs', tls: { key, mode: 'storm' },
    args: ['--mode', 'storm', '--parallel', String(parallel), '--warmup', String(warmup), '--connections', String(connections), '--duration', String(durationS)],
  }
}

function tlsIdle (name, label, connections) {
  return {
    name, label, unit: 'KiB', tls: { key: 'ec256', mode: 'idle', connections },
    args: ['--mode', 'idle', '--parallel', String(TLS_IDLE.parallel), '--connections', String(connections), '--idle', String(TLS_IDLE.idleS)],
  }
}

const SCENARIOS = [
  throughput('fanin0', 'Fan-in 100 → 1, QoS 0', 'msg/s', 'fanin', 0),
  throughput('fanout0', 'Fan-out 1 → 100, QoS 0', 'deliveries/s', 'fanout', 0),
  throughput('pairs0', '50 pairs, QoS 0', 'msg/s', 'pairs', 0),
  throughput('fanin1', 'Fan-in 100 → 1, QoS 1', 'msg/s', 'fanin', 1),
  throughput('fanout1', 'Fan-out 1 → 100, QoS 1', 'deliveries/s', 'fanout', 1),
  throughput('pairs1', '50 pairs, QoS 1', 'msg/s', 'pairs', 1),
  // Subscribers with clean session = 0: Culex writes each QoS 1 delivery to LMDB and acknowledges the
  // publisher only once it is on disk; Mosquitto keeps it in memory (its persistence is a periodic dump).
  { ...throughput('fanin1p', 'Fan-in 100 → 1, QoS 1, persistent subscriber', 'msg/s', 'fanin', 1), args: ['--scenario', 'fanin', '--qos', '1', '--persistent'] },
  { ...throughput('fanout1p', 'Fan-out 1 → 100, QoS 1, persistent subscribers', 'deliveries/s', 'fanout', 1), args: ['--scenario', 'fanout', '--qos', '1', '--persistent'] },
  {
    name: 'latency',
    label: `Latency 1 → 1 at ${LATENCY_RATE.toLocaleString('en-US')} msg/s, QoS 0`,
    latency: true,
    qos: 0,
    args: ['--scenario', 'latency', '--rate', String(LATENCY_RATE)],
  },
  // Two Culex nodes and the redis-server they share, all on the broker core: publishers on node A,
  // subscribers on node B, every message crossing Redis.
  { ...throughput('cluster-fanout0', 'Cluster of 2: fan-out 1 → 100, QoS 0, publisher on A, subscribers on B', 'deliveries/s', 'fanout', 0), cluster: true },
  { ...throughput('cluster-pairs0', 'Cluster of 2: 50 pairs, QoS 0, publishers on A, subscribers on B', 'msg/s', 'pairs', 0), cluster: true },
  tlsHandshake('tls-handshake-ec', 'Broker CPU per TLS 1.3 handshake, ECDSA P-256 certificate', 'ec256'),
  tlsHandshake('tls-handshake-rsa', 'Broker CPU per TLS 1.3 handshake, RSA 2048 certificate', 'rsa2048'),
  tlsIdle('tls-idle-1k', 'Memory per idle TLS connection, 1,000 connections', 1000),
  tlsIdle('tls-idle-10k', 'Memory per idle TLS connection, 10,000 connections', 10_000),
  { name: 'startup', label: 'Start-up: spawn until the MQTT port accepts TCP connections', unit: 'ms', startup: true },
]

// tlsOnly: runs only the TLS scenarios, listening on the TLS port alone.
const BROKERS = [
  { name: 'culex', label: 'Culex', prepare: prepareCulex },
  { name: 'mosquitto', label: 'Mosquitto', prepare: prepareMosquitto },
  { name: 'aedes', label: 'aedes', prepare: prepareAedes },
  { name: 'node-tls-floor', label: 'Node TLS floor', prepare: prepareNodeTlsFloor, tlsOnly: true },
]
const FLOOR = 'node-tls-floor'

// ---------- command line ----------

function parseOptions () {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      scenarios: { type: 'string' },
      duration: { type: 'string', default: '4' },
      'no-write': { type: 'boolean', default: false },
    },
  })
  const duration = Number(values.duration)
  if (!(duration > 0 && duration <= 60)) throw new Error(`--duration must be a number of seconds in (0, 60], got ${values.duration}`)
  return {
    brokers: pickByName(BROKERS, values.only, '--only'),
    scenarios: pickByName(SCENARIOS, values.scenarios, '--scenarios'),
    duration,
    write: !values['no-write'],
    command: process.argv.length > 2 ? `node bench/run.mjs ${process.argv.slice(2).join(' ')}` : 'npm run bench',
  }
}

function pickByName (items, list, flag) {
  if (list === undefined) return items
  const names = list.split(',').map((s) => s.trim()).filter(Boolean)
  for (const name of names) {
    if (!items.some((item) => item.name === name)) {
      throw new Error(`${flag}: unknown name '${name}' (known: ${items.map((i) => i.name).join(', ')})`)
    }
  }
  return items.filter((item) => names.includes(item.name))
}

function checkMachine () {
  if (os.cpus().length < 2) throw new Error('the benchmark pins broker and load generator to separate cores; it needs 2 CPUs')
  if (spawnSync('taskset', ['-V']).error) throw new Error('taskset (util-linux) is required')
}

// Anything else busy on the benchmark cores skews every figure; say so up front.
async function warnIfCoresBusy () {
  const begin = { at: process.hrtime.bigint(), cores: coreTicks([BROKER_CORE, LOADGEN_CORE]) }
  await sleep(500)
  const end = { at: process.hrtime.bigint(), cores: coreTicks([BROKER_CORE, LOADGEN_CORE]) }
  const busy = (100 * (end.cores.busy - begin.cores.busy)) / CLOCK_TICKS / (Number(end.at - begin.at) / 1e9)
  if (busy >= INTERFERENCE_WARNING_PCT) {
    console.warn(`warning: cores ${BROKER_CORE} and ${LOADGEN_CORE} are already ${Math.round(busy)}% busy (100% = one core) before the benchmark starts; results will be disturbed`)
  }
}

const buildLoadgen = () => buildC(LOADGEN_SRC, LOADGEN_BIN)

// ---------- TLS scenarios ----------

const isTls = (scenario) => scenario.tls !== undefined

// Builds bench/tls-storm and one set of certificates per key type (made by `culex certs init`).
// Returns a map key type -> certificate directory, or throws with the reason.
function prepareTls (scenarios, dir) {
  if (!fs.existsSync('/usr/include/openssl/ssl.h')) throw new Error('bench/tls-storm.c needs the OpenSSL headers (Debian: libssl-dev)')
  buildC(TLS_STORM_SRC, TLS_STORM_BIN, ['-lssl', '-lcrypto'])
  if (!fs.existsSync(CULEX_ENTRY)) throw new Error('dist/broker.js not found: the certificates are made by `culex certs init` (npm run build)')
  const certDirs = new Map()
  for (const key of new Set(scenarios.map((s) => s.tls.key))) {
    const certDir = path.join(dir, key)
    execFileSync(process.execPath, [CULEX_ENTRY, 'certs', 'init', '--dir', certDir, '--key', key], { stdio: 'ignore' })
    // Mosquitto started as root drops to user mosquitto before it reads them.
    fs.chmodSync(dir, 0o755)
    fs.chmodSync(certDir, 0o755)
    for (const file of fs.readdirSync(certDir)) fs.chmodSync(path.join(certDir, file), 0o644)
    certDirs.set(key, certDir)
  }
  return certDirs
}

// ---------- brokers ----------
// Each prepare(port, dir) writes whatever config it needs into dir and returns
// the command to run, or throws if the broker is not installed or built.

// tls, for the TLS scenarios: { port, certDir } of an extra MQTT-over-TLS listener
// with certDir/server.pem, server.key and ca.pem.

function prepareMosquitto (port, dir, tls) {
  if (!fs.existsSync(MOSQUITTO)) throw new Error(`${MOSQUITTO} not found`)
  const config = path.join(dir, 'mosquitto.conf')
  fs.writeFileSync(config, mosquittoConfig(port, tls))
  return { command: MOSQUITTO, args: ['-c', config] }
}

function mosquittoConfig (port, tls) {
  return [
    `listener ${port} ${HOST}`,
    'allow_anonymous true',
    // The default (1000 per client) silently drops QoS 1 messages in fan-in.
    'max_queued_messages 10000000',
    // Nagle is off for the load generator, aedes and Culex too.
    'set_tcp_nodelay true',
    ...(tls
      ? [
          `listener ${tls.port} ${HOST}`,
          `certfile ${path.join(tls.certDir, 'server.pem')}`,
          `keyfile ${path.join(tls.certDir, 'server.key')}`,
          `cafile ${path.join(tls.certDir, 'ca.pem')}`,
        ]
      : []),
    '',
  ].join('\n')
}

function prepareAedes (port, _dir, tls) {
  const tlsArgs = tls
    ? ['--tls-port', String(tls.port), '--cert', path.join(tls.certDir, 'server.pem'), '--key', path.join(tls.certDir, 'server.key')]
    : []
  return { command: process.execPath, args: [path.join(ROOT, 'bench/peers/aedes.mjs'), String(port), ...tlsArgs] }
}

function prepareNodeTlsFloor (_port, _dir, tls) {
  if (!tls) throw new Error('the Node TLS floor runs only the TLS scenarios')
  const file = (name) => path.join(tls.certDir, name)
  return {
    command: process.execPath,
    args: [path.join(ROOT, 'bench/peers/node-tls-floor.mjs'), '--tls-port', String(tls.port), '--cert', file('server.pem'), '--key', file('server.key'), '--ca', file('ca.pem')],
  }
}

function prepareCulex (port, dir, tls) {
  if (!fs.existsSync(CULEX_ENTRY)) throw new Error('dist/broker.js not found (not built yet?)')
  const config = path.join(dir, 'culex.hocon')
  fs.writeFileSync(config, culexConfig(port, dir, tls))
  return { command: process.execPath, args: [CULEX_ENTRY, '-c', config] }
}

function culexConfig (port, dataDir, tls) {
  const file = (name) => JSON.stringify(path.join(tls.certDir, name))
  return [
    `node.data_dir = ${JSON.stringify(dataDir)}`,
    'log.console { enable = true, level = warning }',
    `listeners.tcp.default { bind = "${HOST}:${port}" }`,
    'listeners.ws.default { enable = false }',
    ...(tls
      ? [
          `listeners.ssl.default { bind = "${HOST}:${tls.port}", ssl_options { certfile = ${file('server.pem')}, keyfile = ${file('server.key')}, cacertfile = ${file('ca.pem')} } }`,
          'listeners.wss.default { enable = false }',
        ]
      : []),
    'mqtt { max_mqueue_len = 10000000, max_inflight = 65535 }',
    '',
  ].join('\n')
}

// node.name and cluster section of a node of the benchmark cluster.
function culexClusterConfig (port, dataDir, name, redisPort) {
  return culexConfig(port, dataDir) + [
    `node.name = "${name}"`,
    `cluster { backend = redis, redis { servers = "${HOST}:${redisPort}", key_prefix = bench } }`,
    '',
  ].join('\n')
}

function brokerConfigDescription (withTls) {
  const tls = withTls ? { port: '<tlsport>', certDir: '<certs>' } : undefined
  return [
    `Mosquitto: \`${mosquittoConfig('<port>', tls).trim().split('\n').join('`, `')}\`; everything else default.`,
    `aedes: library defaults on \`net.createServer\` with \`noDelay\`${withTls ? ' (and `tls.createServer` with `noDelay`, certificate and key for TLS)' : ''} (bench/peers/aedes.mjs).`,
    `Culex: \`${culexConfig('<port>', '<tmpdir>', tls).trim().split('\n').join('`, `')}\`.`,
    ...(withTls
      ? ['Node TLS floor (TLS scenarios only): `tls.createServer` with `noDelay` and the certificate, key and CA Culex gets, node:tls defaults otherwise; per connection it reads until a whole CONNECT (fixed header + remaining length) has arrived, answers CONNACK `20 02 00 00` and holds the socket idle until DISCONNECT or end, nothing parsed or kept beyond that (bench/peers/node-tls-floor.mjs). The least any Node.js MQTT-over-TLS server does: Culex / Node TLS floor is Culex\'s own cost, Node TLS floor / Mosquitto that of Node\'s tls and its OpenSSL binding.']
      : []),
  ]
}

// ---------- processes ----------

const liveChildren = new Set()

function spawnPinned (core, command, args) {
  const child = spawn('taskset', ['-c', core, command, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  liveChildren.add(child)
  child.exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      liveChildren.delete(child)
      resolve({ code, signal })
    })
  })
  child.output = keepTail(child)
  return child
}

// Keeps the last few KB of a child's stdout and stderr for error messages.
function keepTail (child, limit = 4000) {
  const tail = { text: '' }
  const append = (chunk) => { tail.text = (tail.text + chunk).slice(-limit) }
  child.stdout.setEncoding('utf8').on('data', append)
  child.stderr.setEncoding('utf8').on('data', append)
  return tail
}


async function exitWithin (child, ms) {
  const timeout = sleep(ms).then(() => null)
  return Promise.race([child.exitPromise, timeout])
}

async function stopProcess (child) {
  if (hasExited(child)) return
  child.kill('SIGTERM')
  if (await exitWithin(child, BROKER_STOP_TIMEOUT_MS)) return
  child.kill('SIGKILL')
  await child.exitPromise
}

function killAllChildren () {
  for (const child of liveChildren) child.kill('SIGKILL')
}

const describeExit = (child) => `exited during startup (${child.exitCode ?? child.signalCode}): ${lastLines(child.output.text)}`

function lastLines (text, count = 5) {
  return text.trim().split('\n').slice(-count).join(' | ') || '(no output)'
}

// ---------- /proc sampling ----------

const peakRssKiB = (pid) => statusKiB(pid, 'VmHWM')

// ---------- one run ----------

function loadgenTimeoutMs (duration) {
  const { warmupS, drainS, setupTimeoutS } = LOADGEN_DEFAULTS
  return (setupTimeoutS + warmupS + duration + drainS + 10) * 1000
}

// Runs a load generator; samples CPU (and broker RSS) when it reports the window opening and closing.
async function runGenerator (command, args, brokerPid, timeoutMs) {
  const child = spawnPinned(LOADGEN_CORE, command, args)
  const samples = {}
  let stdout = ''
  child.stdout.on('data', (chunk) => { stdout += chunk })
  child.stderr.on('data', (chunk) => {
    try {
      if (chunk.includes('window-begin')) samples.begin = sampleCpu(brokerPid, child.pid, [BROKER_CORE, LOADGEN_CORE])
      if (chunk.includes('window-end')) samples.end = sampleCpu(brokerPid, child.pid, [BROKER_CORE, LOADGEN_CORE])
    } catch (error) {
      samples.error = error // a process is gone; the exit status below tells the story
    }
  })
  const exit = await exitWithin(child, timeoutMs)
  if (!exit) {
    child.kill('SIGKILL')
    throw new Error('load generator did not finish in time')
  }
  if (exit.code !== 0) throw new Error(lastLines(child.output.text.replace(/^window-(begin|end)\n/gm, '')))
  if (!samples.begin || !samples.end) throw new Error(`could not sample CPU over the measuring window: ${samples.error?.message ?? 'window not reported'}`)
  return { figures: JSON.parse(stdout.trim().split('\n').pop()), cpu: cpuPercentages(samples.begin, samples.end), samples }
}

function runLoadgen (scenario, port, brokerPid, duration, subPort) {
  const args = ['--host', HOST, '--port', String(port), ...(subPort ? ['--sub-port', String(subPort)] : []), '--duration', String(duration), ...scenario.args]
  return runGenerator(LOADGEN_BIN, args, brokerPid, loadgenTimeoutMs(duration))
}

/**
 * Tail latency on a shared VM moves by several times between windows (the hypervisor, not the broker):
 * LATENCY_WINDOWS windows one after another on the same broker, each percentile their median.
 */
async function runLatency (scenario, port, brokerPid, duration) {
  const runs = []
  for (let i = 0; i < LATENCY_WINDOWS; i++) runs.push(await runLoadgen(scenario, port, brokerPid, duration))
  const median = (key) => runs.map((r) => r.figures[key]).sort((a, b) => a - b)[Math.floor(runs.length / 2)]
  const last = runs[runs.length - 1]
  return { ...last, figures: { ...last.figures, p50_us: median('p50_us'), p99_us: median('p99_us'), max_us: median('max_us'), windows: runs.map((r) => r.figures.p99_us) } }
}

async function runTlsStorm (scenario, tls, brokerPid) {
  const args = ['--host', HOST, '--port', String(tls.port), '--ca', path.join(tls.certDir, 'ca.pem'), '--timeout', String(TLS_TIMEOUT_S), ...scenario.args]
  const result = await runGenerator(TLS_STORM_BIN, args, brokerPid, (TLS_TIMEOUT_S * 2 + TLS_STORM.durationS + TLS_IDLE.idleS + 10) * 1000)
  return { ...result, tls: tlsFigures(scenario, result.figures, result.samples) }
}

// Per-handshake CPU (storm) or per-connection memory (idle) from the window's samples.
function tlsFigures (scenario, figures, { begin, end }) {
  const cpuUs = (ticks, count) => (count > 0 ? (ticks / CLOCK_TICKS) * 1e6 / count : null)
  if (scenario.tls.mode === 'storm') {
    return {
      brokerUs: cpuUs(end.broker - begin.broker, figures.completed),
      clientUs: cpuUs(end.loadgen - begin.loadgen, figures.completed),
      complete: figures.failed === 0 && figures.unfinished === 0,
    }
  }
  const { brokerRssKiB: before } = begin
  const { brokerRssKiB: after } = end
  return {
    rssBeforeKiB: before,
    rssAfterKiB: after,
    kibPerConnection: figures.held > 0 && before != null && after != null ? (after - before) / figures.held : null,
    complete: figures.held === scenario.tls.connections,
  }
}

// A cluster scenario: redis-server, then nodes A and B; broker CPU and RSS are summed over the three
// processes (RSS: the two nodes).
async function runCluster (scenario, options) {
  if (!fs.existsSync(REDIS_SERVER)) return { ok: false, brokerStarted: false, error: `${REDIS_SERVER} not found` }
  const redisPort = await freePort(HOST)
  const ports = [await freePort(HOST, redisPort)]
  ports.push(await freePort(HOST, ports[0]))
  const dirs = ['a', 'b'].map((n) => fs.mkdtempSync(path.join(os.tmpdir(), `bench-culex-${n}-`)))
  const children = []
  let brokerStarted = false
  try {
    if (!fs.existsSync(CULEX_ENTRY)) throw new Error('dist/broker.js not found (not built yet?)')
    const redis = spawnPinned(BROKER_CORE, REDIS_SERVER, ['--port', String(redisPort), '--bind', HOST, '--save', '', '--appendonly', 'no'])
    children.push(redis)
    await waitUntilAccepting(redis, HOST, redisPort, BROKER_START_TIMEOUT_MS, describeExit)
    const nodes = ['a', 'b'].map((n, i) => {
      const config = path.join(dirs[i], 'culex.hocon')
      fs.writeFileSync(config, culexClusterConfig(ports[i], dirs[i], `${n}@bench`, redisPort))
      const child = spawnPinned(BROKER_CORE, process.execPath, [CULEX_ENTRY, '-c', config])
      children.push(child)
      return child
    })
    await Promise.all(nodes.map((child, i) => waitUntilAccepting(child, HOST, ports[i], BROKER_START_TIMEOUT_MS, describeExit)))
    brokerStarted = true
    const pids = children.map((c) => c.pid)
    const result = await runLoadgen(scenario, ports[0], pids, options.duration, ports[1])
    return { ok: true, brokerStarted, figures: result.figures, cpu: result.cpu, rssKiB: peakRssKiB(nodes.map((c) => c.pid)) }
  } catch (error) {
    const crashed = children.filter(hasExited).map((c) => lastLines(c.output.text, 2))
    return { ok: false, brokerStarted, error: `${error.message}${brokerStarted && crashed.length ? ` (exited: ${crashed.join('; ')})` : ''}` }
  } finally {
    for (const child of children.reverse()) await stopProcess(child)
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  }
}

async function runOne (broker, scenario, options) {
  if (scenario.cluster) return runCluster(scenario, options)
  const port = await freePort(HOST)
  const tls = isTls(scenario) ? { port: await freePort(HOST, port), certDir: options.certDirs.get(scenario.tls.key) } : undefined
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${broker.name}-`))
  let child
  let brokerStarted = false
  try {
    const { command, args } = broker.prepare(port, dir, tls)
    child = spawnPinned(BROKER_CORE, command, args)
    if (!broker.tlsOnly) await waitUntilAccepting(child, HOST, port, BROKER_START_TIMEOUT_MS, describeExit)
    if (tls) await waitUntilAccepting(child, HOST, tls.port, BROKER_START_TIMEOUT_MS, describeExit)
    brokerStarted = true
    if (tls) raiseFileLimit(child.pid, (scenario.tls.connections ?? TLS_STORM.parallel) + 100, 'the broker')
    const result = tls
      ? await runTlsStorm(scenario, tls, child.pid)
      : scenario.latency ? await runLatency(scenario, port, child.pid, options.duration) : await runLoadgen(scenario, port, child.pid, options.duration)
    return { ok: true, brokerStarted, figures: result.figures, cpu: result.cpu, tls: result.tls, rssKiB: peakRssKiB(child.pid) }
  } catch (error) {
    const crashed = brokerStarted && hasExited(child) ? ` (broker exited: ${lastLines(child.output.text, 2)})` : ''
    return { ok: false, brokerStarted, error: `${error.message}${crashed}` }
  } finally {
    if (child) await stopProcess(child)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

// ---------- start-up ----------

// Culex twice (TCP listener only; the listeners and API of etc/base.hocon), Mosquitto and aedes as in the
// other scenarios; their runs alternate so that a noisy spell hits all of them alike.
function startupCandidates (brokers) {
  const certDir = () => {
    const dir = path.join(tlsDir(), 'startup')
    if (!fs.existsSync(dir)) makeCulexCertificates(CULEX_ENTRY, dir)
    return dir
  }
  const byBroker = {
    culex: [
      { name: 'culex-tcp', label: 'Culex, TCP listener only', prepare: culexPrepare(CULEX_ENTRY, culexTcpConfig) },
      { name: 'culex-default', label: 'Culex, etc/base.hocon listeners', prepare: culexPrepare(CULEX_ENTRY, (port, dir) => culexDefaultConfig(port, dir, certDir())) },
    ],
    mosquitto: [{ name: 'mosquitto', label: 'Mosquitto', prepare: prepareMosquitto }],
    aedes: [{ name: 'aedes', label: 'aedes', prepare: prepareAedes }],
  }
  return brokers.flatMap((b) => byBroker[b.name] ?? [])
}

async function runStartup (brokers) {
  const candidates = startupCandidates(brokers)
  const measured = await measureStartups(candidates, { runs: STARTUP_RUNS, core: BROKER_CORE })
  return candidates.map((c) => {
    const result = measured.get(c.name)
    return { ...c, ...(result.error ? { error: result.error } : summarize(result.times)) }
  })
}

function describeStartup (row) {
  return row.error ? `FAILED: ${row.error}` : `median ${fmtInt(row.median)} ms  min ${fmtInt(row.min)}  max ${fmtInt(row.max)}  (${row.runs} runs)`
}

function startupTable (rows) {
  const base = rows.find((r) => r.name === 'mosquitto' && !r.error)
  const ms = (r, key) => (r.error ? 'failed' : fmtInt(r[key]))
  return table(['Broker', 'Median (ms)', 'Min (ms)', 'Max (ms)', '/ Mosquitto'],
    rows.map((r) => [r.label, ms(r, 'median'), ms(r, 'min'), ms(r, 'max'), r.error ? 'n/a' : fmtRatio(r.median, base?.median)]))
}

// ---------- formatting ----------

const fmtInt = (n) => Math.round(n).toLocaleString('en-US')
const fmtPct = (n) => `${Math.round(n)}%`
const fmtRatio = (a, b) => (a == null || b == null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}×`)
const fmtMiB = (kib) => (kib == null ? 'n/a' : `${(kib / 1024).toFixed(1)} MiB`)

function headline (scenario, run) {
  if (!run?.ok) return null
  return scenario.latency ? run.figures.p99_us : run.figures.delivered_per_s
}

const isDisturbed = (run) => run.ok && (run.cpu.other >= INTERFERENCE_WARNING_PCT || run.cpu.steal >= STEAL_WARNING_PCT)
const DISTURBED_NOTE = `\\* Disturbed run: during its window other processes used ≥ ${INTERFERENCE_WARNING_PCT}% or the hypervisor stole ≥ ${STEAL_WARNING_PCT}% of the two cores (see the CPU table); rerun on a quiet machine.`

// Per-handshake CPU and per-connection memory do not depend on how fast the load generator is.
const isLoadgenBound = (run) => run.ok && !run.tls && run.cpu.loadgen >= LOADGEN_SATURATED_PCT
const LOADGEN_BOUND_NOTE = `† The load generator used ≥ ${LOADGEN_SATURATED_PCT}% of its core: the figure may be limited by it rather than by the broker.`

const isIncomplete = (run) => run.ok && run.tls && !run.tls.complete
const INCOMPLETE_NOTE = '‡ Not every connection completed its handshake and CONNACK, or not every idle connection was still held at the end (see the TLS details table).'

const fmtUs = (us) => (us == null ? 'n/a' : fmtInt(us))
const fmtKiB = (kib) => (kib == null ? 'n/a' : kib.toFixed(1))

function describeTlsRun (scenario, run) {
  const f = run.figures
  const t = run.tls
  const main = scenario.tls.mode === 'storm'
    ? `${fmtUs(t.brokerUs)} µs broker CPU/handshake  ${fmtInt(f.completed)} handshakes (${fmtInt(f.per_s)}/s)  client ${fmtUs(t.clientUs)} µs/handshake` +
      (t.complete ? '' : `  INCOMPLETE (failed ${f.failed}, unfinished ${f.unfinished}: ${f.error})`)
    : `${fmtKiB(t.kibPerConnection)} KiB/connection  held ${fmtInt(f.held)} of ${fmtInt(scenario.tls.connections)}  rss ${fmtMiB(t.rssBeforeKiB)} → ${fmtMiB(t.rssAfterKiB)}  opened in ${f.open_s.toFixed(1)} s` +
      (t.complete ? '' : `  INCOMPLETE (started ${f.started}, failed ${f.failed}, dropped ${f.dropped}, unfinished ${f.unfinished}: ${f.error})`)
  const disturbed = isDisturbed(run) ? `  DISTURBED (other ${fmtPct(run.cpu.other)}, steal ${fmtPct(run.cpu.steal)})` : ''
  return `${main}  broker ${fmtPct(run.cpu.broker)}  loadgen ${fmtPct(run.cpu.loadgen)}${disturbed}`
}

function describeRun (scenario, run) {
  if (!run.ok) return `FAILED: ${run.error}`
  if (isTls(scenario)) return describeTlsRun(scenario, run)
  const f = run.figures
  const main = scenario.latency
    ? `p50 ${f.p50_us.toFixed(0)} µs  p99 ${f.p99_us.toFixed(0)} µs`
    : `${fmtInt(f.delivered_per_s)} ${scenario.unit}`
  const lost = f.lost == null ? '' : `  lost ${f.lost}${f.drain_cut_off ? ' (drain cut off)' : ''}`
  const disturbed = isDisturbed(run) ? `  DISTURBED (other ${fmtPct(run.cpu.other)}, steal ${fmtPct(run.cpu.steal)})` : ''
  const bound = isLoadgenBound(run) ? '  LOADGEN-BOUND' : ''
  return `${main}${lost}  broker ${fmtPct(run.cpu.broker)}  loadgen ${fmtPct(run.cpu.loadgen)}  rss ${fmtMiB(run.rssKiB)}${disturbed}${bound}`
}

function cell (results, scenario, broker, render) {
  if (!results.available.has(broker.name)) return 'n/a'
  const run = results.runs[scenario.name]?.[broker.name]
  if (!run) return '–'
  if (!run.ok) return 'failed'
  return `${render(run)}${isDisturbed(run) ? ' \\*' : ''}${isLoadgenBound(run) ? ' †' : ''}${isIncomplete(run) ? ' ‡' : ''}`
}

// The first `textColumns` columns are left-aligned, the rest hold numbers.
function table (header, rows, textColumns = 1) {
  const line = (cells) => `| ${cells.join(' | ')} |`
  const align = header.map((_, i) => (i < textColumns ? '---' : '---:'))
  return [line(header), line(align), ...rows.map(line)].join('\n')
}

function ratioColumns (brokers) {
  const base = brokers.find((b) => b.name === 'mosquitto')
  return base ? brokers.filter((b) => b !== base).map((b) => ({ broker: b, base })) : []
}

function throughputTable (results, brokers, scenarios) {
  const ratios = ratioColumns(brokers)
  const header = ['Scenario', ...brokers.map((b) => b.label), ...ratios.map((r) => `${r.broker.label} / ${r.base.label}`)]
  const rows = scenarios.filter(isThroughput).map((s) => [
    `${s.label} (${s.unit})`,
    ...brokers.map((b) => cell(results, s, b, (run) => fmtInt(run.figures.delivered_per_s))),
    ...ratios.map((r) => fmtRatio(headline(s, results.runs[s.name]?.[r.broker.name]), headline(s, results.runs[s.name]?.[r.base.name]))),
  ])
  return table(header, rows)
}

function latencyTable (results, brokers, scenario) {
  const ratios = ratioColumns(brokers)
  const header = ['', ...brokers.map((b) => b.label), ...ratios.map((r) => `${r.broker.label} / ${r.base.label}`)]
  const runs = results.runs[scenario.name] ?? {}
  const row = (label, key) => [
    label,
    ...brokers.map((b) => cell(results, scenario, b, (run) => fmtInt(run.figures[key]))),
    ...ratios.map((r) => fmtRatio(runs[r.broker.name]?.figures?.[key], runs[r.base.name]?.figures?.[key])),
  ]
  return table(header, [row('p50 (µs)', 'p50_us'), row('p99 (µs)', 'p99_us'), row('max (µs)', 'max_us')])
}

const isThroughput = (scenario) => !scenario.latency && !isTls(scenario) && !scenario.startup

const tlsHeadline = (scenario, run) => (run?.ok ? (scenario.tls.mode === 'storm' ? run.tls.brokerUs : run.tls.kibPerConnection) : null)

// Culex against the Node TLS floor: what Culex adds to Node's tls.
function floorRatioColumns (brokers) {
  const culex = brokers.find((b) => b.name === 'culex')
  const floor = brokers.find((b) => b.name === FLOOR)
  return culex && floor ? [{ broker: culex, base: floor }] : []
}

function tlsTable (results, brokers, scenarios) {
  const ratios = [...ratioColumns(brokers), ...floorRatioColumns(brokers)]
  const header = ['Scenario', ...brokers.map((b) => b.label), ...ratios.map((r) => `${r.broker.label} / ${r.base.label}`)]
  const rows = scenarios.filter(isTls).map((s) => [
    `${s.label} (${s.unit})`,
    ...brokers.map((b) => cell(results, s, b, (run) => (s.tls.mode === 'storm' ? fmtUs(run.tls.brokerUs) : fmtKiB(run.tls.kibPerConnection)))),
    ...ratios.map((r) => fmtRatio(tlsHeadline(s, results.runs[s.name]?.[r.broker.name]), tlsHeadline(s, results.runs[s.name]?.[r.base.name]))),
  ])
  return table(header, rows)
}

function tlsDetailsTable (results, brokers, scenarios) {
  const rows = []
  for (const s of scenarios.filter(isTls)) {
    for (const b of brokers) {
      const run = results.runs[s.name]?.[b.name]
      if (!run?.ok) continue
      const f = run.figures
      rows.push(s.tls.mode === 'storm'
        ? [s.name, b.label, `${fmtInt(f.completed)} of ${fmtInt(f.started)} completed`, `${fmtInt(f.per_s)} handshakes/s`, `${fmtUs(run.tls.clientUs)} µs per handshake`, '']
        : [s.name, b.label, `${fmtInt(f.held)} of ${fmtInt(s.tls.connections)} held`, `opened in ${f.open_s.toFixed(1)} s`, '', `${fmtMiB(run.tls.rssBeforeKiB)} → ${fmtMiB(run.tls.rssAfterKiB)}`])
    }
  }
  return table(['Scenario', 'Broker', 'Connections', 'Rate', 'Load generator CPU', 'Broker RSS before → after'], rows, 2)
}

function describeLost (run) {
  const { lost, sent, drain_cut_off: cutOff } = run.figures
  return `${fmtInt(lost)} of ${fmtInt(sent)}${cutOff ? ' (drain cut off, still delivering)' : ''}`
}

function lostTable (results, brokers, scenarios) {
  const rows = scenarios.filter((s) => s.qos === 1).map((s) => [
    s.label,
    ...brokers.map((b) => cell(results, s, b, describeLost)),
  ])
  return rows.length ? table(['Scenario', ...brokers.map((b) => b.label)], rows) : null
}

function runsTable (results, brokers, scenarios) {
  const rows = []
  for (const s of scenarios) {
    for (const b of brokers) {
      const run = results.runs[s.name]?.[b.name]
      if (!run) continue
      rows.push(run.ok
        ? [s.name, b.label, fmtPct(run.cpu.broker), fmtPct(run.cpu.loadgen), fmtPct(run.cpu.other), fmtPct(run.cpu.steal), fmtMiB(run.rssKiB)]
        : [s.name, b.label, `failed: ${run.error.replaceAll('|', '/')}`, '', '', '', ''])
    }
  }
  return table(['Scenario', 'Broker', 'Broker CPU', 'Load generator CPU', 'Other CPU on both cores', 'Steal', 'Broker peak RSS'], rows, 2)
}

// ---------- environment and report ----------

function commandVersion (command, args, pattern) {
  const { stdout = '', stderr = '', error } = spawnSync(command, args, { encoding: 'utf8' })
  return (!error && pattern.exec(`${stdout}${stderr}`)?.[1]) || 'unknown'
}

function environment () {
  const cpuModel = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU'
  const readVersion = (file) => JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')).version
  return {
    date: new Date().toISOString().replace(/:\d\d\.\d+Z$/, ' UTC').replace('T', ' '),
    cpus: os.cpus().length,
    cpuModel,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    mosquitto: commandVersion(MOSQUITTO, ['-h'], /mosquitto version (\S+)/),
    openssl: commandVersion('openssl', ['version'], /OpenSSL (\S+)/),
    aedes: readVersion('node_modules/aedes/package.json'),
    culex: `${readVersion('package.json')} (${gitRevision(ROOT)})`,
  }
}

function tlsMethod (env, options) {
  if (!options.scenarios.some(isTls)) return []
  const { parallel, warmup, connections, durationS } = TLS_STORM
  return [
    `- TLS: bench/tls-storm.c (one thread, epoll, OpenSSL ${env.openssl}) pinned to core ${LOADGEN_CORE}, TLS 1.3 only, a full handshake per connection (no session resumption), server certificate verified against the CA; certificates made by \`culex certs init --key ec256|rsa2048\`. Every connection sends an MQTT 3.1.1 CONNECT (clean session, keepalive 0) and waits for its CONNACK.`,
    `- TLS handshake: after ${warmup} warm-up connections, ${parallel} connections in flight, each closing (DISCONNECT, close_notify, close) after its CONNACK, until ${fmtInt(connections)} were started or ${durationS} s passed. Figure: broker utime+stime over the window (until every started connection finished, plus 0.2 s) divided by completed handshakes. The load generator's CPU per handshake is in the TLS details table; when it saturates its core the broker simply idles part of the time.`,
    `- Idle TLS connections: open N connections, at most ${TLS_IDLE.parallel} handshaking at once, keep them ${TLS_IDLE.idleS} s idle; figure: (broker VmRSS after − VmRSS before opening) / connections still held, in KiB (1024 bytes, /proc's "kB").`,
  ]
}

function methodSection (env, options) {
  const { payloadBytes, inflight, warmupS, drainS } = LOADGEN_DEFAULTS
  return [
    `Generated ${env.date} by \`${options.command}\`.`,
    '',
    `- Machine: ${env.cpus} CPUs (${env.cpuModel}), ${env.kernel}; Node ${env.node}, Mosquitto ${env.mosquitto}, aedes ${env.aedes}, Culex ${env.culex}.`,
    `- The broker runs pinned to core ${BROKER_CORE} (\`taskset -c ${BROKER_CORE}\`), the load generator (bench/loadgen.c: one thread, epoll, its own MQTT 3.1.1 client code) pinned to core ${LOADGEN_CORE}. Every scenario gets a fresh broker process on a fresh loopback port.`,
    `- ${payloadBytes}-byte payloads, clean sessions, TCP_NODELAY on every socket. ${warmupS} s warm-up, then a ${options.duration} s measuring window. Each publisher keeps at most ${inflight} messages in flight that its subscribers have not received yet (the payload carries publisher index, sequence number and send time), so the figures measure the broker rather than socket buffers.`,
    '- Fan-in: 100 publishers on `bench/in/<i>`, one subscriber on `bench/in/+`. Fan-out: one publisher, 100 subscribers on the same topic; counted in deliveries/s. Pairs: 50 publisher/subscriber pairs, each on its own topic.',
    ...(options.scenarios.some((s) => s.cluster)
      ? [`- Cluster (Culex only): redis-server (no persistence) and two Culex nodes (the config below plus \`node.name\` and \`cluster { backend = redis }\`), all three pinned to core ${BROKER_CORE}; the load generator's publishers connect to node A and its subscribers to node B (\`--sub-port\`), so every message crosses Redis. Broker CPU and RSS are those of the three processes (RSS: the two nodes) together.`]
      : []),
    `- QoS 1: publishers also wait for PUBACKs, subscribers subscribe at QoS 1 and acknowledge every delivery. After the window publishing stops and the generator waits until everything was delivered, the broker has been silent for 1 s, or ${drainS} s passed; a message the broker acknowledged but never delivered counts as lost.`,
    `- Latency: one publisher sends ${fmtInt(LATENCY_RATE)} msg/s at QoS 0 to one subscriber; CLOCK_MONOTONIC send time in the payload, percentiles over the window; ${LATENCY_WINDOWS} windows one after another on the same broker, each figure the median of the windows' (tail latency on this shared VM moves by several times from one window to the next).`,
    `- CPU: utime+stime from /proc/<pid>/stat over the window, 100% = one core. "Other" is what else ran on the two cores and "steal" what the hypervisor took (/proc/stat). Peak RSS is the broker's VmHWM.`,
    ...tlsMethod(env, options),
    ...(options.scenarios.some((s) => s.startup)
      ? [`- Start-up: each broker is spawned ${STARTUP_RUNS} times pinned to core ${BROKER_CORE}, with a fresh port and directory each time, the brokers' runs alternating; figure: milliseconds from spawn until a TCP connect to its MQTT port succeeds (tried every 2 ms; Culex opens the TCP listener before its other listeners and the API), median, min and max. Culex TCP only: \`${culexTcpConfig('<port>', '<tmpdir>').trim().split('\n').join('`, `')}\`. Culex etc/base.hocon listeners: \`include "etc/base.hocon"\` with the tcp, ssl, ws and wss listeners and the management API moved to free ports on ${HOST} and certificates made by \`culex certs init\`. Mosquitto and aedes as configured below.`]
      : []),
    ...brokerConfigDescription(options.scenarios.some(isTls)).map((line) => `- ${line}`),
  ].join('\n')
}

const allRuns = (results) => Object.values(results.runs).flatMap(Object.values)

function renderReport (results, options, env) {
  const { brokers: allBrokers, scenarios } = options
  const brokers = allBrokers.filter((b) => !b.tlsOnly) // columns of the tables other than the TLS ones
  const latency = scenarios.find((s) => s.latency)
  const lost = lostTable(results, brokers, scenarios)
  const unavailable = allBrokers
    .filter((b) => !results.available.has(b.name))
    .map((b) => `- ${b.label}: not available — ${results.unavailableReasons[b.name]}`)
  const parts = [
    '## Results',
    methodSection(env, options),
    ...(unavailable.length ? [unavailable.join('\n')] : []),
    ...(scenarios.some(isThroughput) ? ['### Throughput (higher is better)', throughputTable(results, brokers, scenarios)] : []),
    ...(latency ? [`### ${latency.label} (lower is better)`, latencyTable(results, brokers, latency)] : []),
    ...(lost ? ['### QoS 1 lost messages (acknowledged but never delivered)', lost] : []),
    ...(scenarios.some(isTls) ? ['### TLS: broker CPU per handshake and memory per idle connection (lower is better)', tlsTable(results, allBrokers, scenarios)] : []),
    ...(results.startup ? ['### Start-up: spawn until the MQTT port accepts TCP connections (lower is better)', startupTable(results.startup)] : []),
    ...(results.tlsSkipped ? [`TLS scenarios not run: ${results.tlsSkipped}`] : []),
    ...(allRuns(results).some(isDisturbed) ? [DISTURBED_NOTE] : []),
    ...(allRuns(results).some(isLoadgenBound) ? [LOADGEN_BOUND_NOTE] : []),
    ...(allRuns(results).some(isIncomplete) ? [INCOMPLETE_NOTE] : []),
    ...(scenarios.some(isTls) ? ['### TLS details', tlsDetailsTable(results, allBrokers, scenarios)] : []),
    ...(allRuns(results).length ? ['### CPU and memory per run', runsTable(results, allBrokers, scenarios)] : []),
    '### Reproduce',
    'Needs gcc, util-linux `taskset`, Debian `mosquitto` at /usr/sbin/mosquitto, OpenSSL headers (`libssl-dev`) for the TLS scenarios and 2+ cores.\n\n' +
      '```sh\nnpm run bench\n# subsets, without touching this file:\nnode bench/run.mjs --only culex,mosquitto --scenarios fanin0,latency --duration 4 --no-write\nnode bench/startup.mjs --runs 20   # start-up times only\n```',
  ]
  return parts.join('\n\n')
}

const DEFAULT_INTRO = `# Benchmarks

Culex next to Mosquitto (C, single-threaded) and aedes (Node.js) on the same machine, measured in one run by \`npm run bench\` (bench/run.mjs, bench/loadgen.c).

Everything between the \`bench:begin\` and \`bench:end\` markers below is generated and replaced on every run; text outside them is kept.
`

function writeBenchmarks (report) {
  writeBetweenMarkers(BENCHMARKS_MD, BEGIN_MARKER, END_MARKER, report, DEFAULT_INTRO)
}

// ---------- main ----------

// A broker that has never come up is "not available" from then on; one that
// did come up before gets a failed run instead.
async function benchmark (options) {
  const results = { runs: {}, available: new Set(options.brokers.map((b) => b.name)), unavailableReasons: {}, tlsSkipped: options.tlsSkipped }
  const cameUp = new Set()
  const nameWidth = Math.max(8, ...options.scenarios.map((s) => s.name.length))
  const labelWidth = Math.max(10, ...options.brokers.map((b) => b.label.length))
  for (const scenario of options.scenarios) {
    results.runs[scenario.name] = {}
    if (scenario.startup) {
      const started = Date.now()
      results.startup = await runStartup(options.brokers.filter((b) => results.available.has(b.name)))
      const prefix = `${scenario.name.padEnd(nameWidth)} [${((Date.now() - started) / 1000).toFixed(1)} s]`
      for (const row of results.startup) console.log(`${prefix} ${row.label}: ${describeStartup(row)}`)
      continue
    }
    for (const broker of options.brokers) {
      if (!results.available.has(broker.name)) continue
      // Only Culex clusters (Mosquitto and aedes have no cluster of their own).
      if (scenario.cluster && broker.name !== 'culex') continue
      if (broker.tlsOnly && !isTls(scenario)) continue
      const started = Date.now()
      const run = await runOne(broker, scenario, options)
      const prefix = `${scenario.name.padEnd(nameWidth)} ${broker.label.padEnd(labelWidth)} [${((Date.now() - started) / 1000).toFixed(1)} s]`
      if (!run.brokerStarted && !cameUp.has(broker.name)) {
        results.available.delete(broker.name)
        results.unavailableReasons[broker.name] = run.error
        console.log(`${prefix} not available: ${run.error}`)
        continue
      }
      cameUp.add(broker.name)
      results.runs[scenario.name][broker.name] = run
      console.log(`${prefix} ${describeRun(scenario, run)}`)
    }
  }
  return results
}

// Without OpenSSL headers or certificates the TLS scenarios are left out, with the reason in the report.
function setUpTls (options) {
  if (!options.scenarios.some(isTls)) return
  try {
    options.certDirs = prepareTls(options.scenarios.filter(isTls), tlsDir())
  } catch (error) {
    options.tlsSkipped = error.message
    options.scenarios = options.scenarios.filter((s) => !isTls(s))
    console.warn(`warning: TLS scenarios not run: ${error.message}`)
  }
}

let tlsDirPath = null
function tlsDir () {
  tlsDirPath ??= fs.mkdtempSync(path.join(os.tmpdir(), 'bench-certs-'))
  return tlsDirPath
}

function removeTlsDir () {
  if (tlsDirPath) fs.rmSync(tlsDirPath, { recursive: true, force: true })
}

async function main () {
  const options = parseOptions()
  checkMachine()
  buildLoadgen()
  setUpTls(options)
  await warnIfCoresBusy()
  const started = Date.now()
  const results = await benchmark(options)
  const report = renderReport(results, options, environment())
  console.log(`\n${report}\n`)
  console.log(`(${Math.round((Date.now() - started) / 1000)} s)`)
  if (options.write) {
    writeBenchmarks(report)
    console.log(`wrote ${path.relative(process.cwd(), BENCHMARKS_MD) || BENCHMARKS_MD}`)
  }
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killAllChildren()
    process.exit(130)
  })
}
process.on('exit', () => {
  killAllChildren()
  removeTlsDir()
})

main().catch((error) => {
  console.error(`bench: ${error.message}`)
  process.exitCode = 1
})
