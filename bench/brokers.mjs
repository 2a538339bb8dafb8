// The brokers of bench/run.mjs and how a scenario runs against one: Culex, Mosquitto, aedes and the
// Node TLS floor (TLS scenarios only) and the Node floor (light-load scenarios only), each started fresh, pinned to BROKER_CORE, with the load
// generator pinned to LOADGEN_CORE and CPU sampled around its measuring window.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { haproxyFront, method as haproxyFrontMethod } from './scenarios/haproxy-front.mjs'
import { cpuPercentages, exitWithin, freePort, hasExited, lastLines, sampleCpu, spawnPinned, statusKiB, stopProcess, waitUntilAccepting } from './proc.mjs'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const CULEX_ENTRY = path.join(ROOT, 'dist/broker.js')
export const MOSQUITTO = '/usr/sbin/mosquitto'
export const HOST = '127.0.0.1'
export const BROKER_CORE = '0'
export const LOADGEN_CORE = '1'
export const BROKER_START_TIMEOUT_MS = 10_000
const BROKER_STOP_TIMEOUT_MS = 5_000

// Each prepare(port, dir, tls, spare) writes whatever config it needs into dir and returns the command to
// run, or throws if the broker is not installed or built. tls, for the TLS scenarios: { port, certDir }
// of an extra MQTT-over-TLS listener with certDir/server.pem, server.key and ca.pem. spare: another free
// port, for a broker that opens one more (Culex: its management API); the broker counts as started once
// the returned readyPort accepts too.
// tlsOnly: runs only the TLS scenarios, listening on the TLS port alone. lightOnly: runs only the light-load scenarios. A prepare may return a companion
// { command, args, port, readyPort? } started beside it (the HAProxy TLS front's Culex): pinned to the same
// core, waited for on its port and readyPort, its CPU and memory added to the broker's.
export const BROKERS = [
  { name: 'culex', label: 'Culex', prepare: prepareCulex },
  { name: 'mosquitto', label: 'Mosquitto', prepare: prepareMosquitto },
  { name: 'aedes', label: 'aedes', prepare: prepareAedes },
  { name: 'node-tls-floor', label: 'Node TLS floor', prepare: prepareNodeTlsFloor, tlsOnly: true },
  { name: 'node-floor', label: 'Node floor', prepare: prepareNodeFloor, lightOnly: true },
  haproxyFront,
]

export function prepareMosquitto (port, dir, tls) {
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

export function prepareAedes (port, _dir, tls) {
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

function prepareNodeFloor (port, _dir, tls) {
  const file = (name) => path.join(tls.certDir, name)
  const tlsArgs = tls ? ['--tls-port', String(tls.port), '--cert', file('server.pem'), '--key', file('server.key')] : []
  return { command: process.execPath, args: [path.join(ROOT, 'bench/peers/node-floor.mjs'), '--port', String(port), ...tlsArgs] }
}

// Culex opens its MQTT listeners first and loads the management API after (start-up time is spawn until
// MQTT accepts): the load waits for the API port, so that it meets the broker fully started, as it meets
// Mosquitto, and no measuring window overlaps the loading.
function prepareCulex (port, dir, tls, spare) {
  if (!fs.existsSync(CULEX_ENTRY)) throw new Error('dist/broker.js not found (not built yet?)')
  const config = path.join(dir, 'culex.hocon')
  fs.writeFileSync(config, culexConfig(port, dir, tls, spare))
  return { command: process.execPath, args: [...culexNodeFlags(), CULEX_ENTRY, '-c', config], readyPort: spare }
}

// For looking into a run, e.g. CULEX_BENCH_NODE_FLAGS='--trace-gc': node flags for Culex (the end of
// its output shows when it fails). Not for figures that go into BENCHMARKS.md.
const culexNodeFlags = () => (process.env.CULEX_BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean)

/** apiPort: the management API's (0, the default, lets the OS pick one: brokers side by side never collide on 18083). */
export function culexConfig (port, dataDir, tls, apiPort = 0) {
  const file = (name) => JSON.stringify(path.join(tls.certDir, name))
  return [
    `node.data_dir = ${JSON.stringify(dataDir)}`,
    'log.console { enable = true, level = warning }',
    `listeners.tcp.default { bind = "${HOST}:${port}" }`,
    `dashboard.listeners.http.bind = "${HOST}:${apiPort}"`,
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

/** The brokers' configurations, for the method paragraph of the report. */
export function brokerConfigDescription (withTls) {
  const tls = withTls ? { port: '<tlsport>', certDir: '<certs>' } : undefined
  return [
    `Mosquitto: \`${mosquittoConfig('<port>', tls).trim().split('\n').join('`, `')}\`; everything else default.`,
    `aedes: library defaults on \`net.createServer\` with \`noDelay\`${withTls ? ' (and `tls.createServer` with `noDelay`, certificate and key for TLS)' : ''} (bench/peers/aedes.mjs).`,
    `Culex: \`${culexConfig('<port>', '<tmpdir>', tls, '<apiport>').trim().split('\n').join('`, `')}\`.`,
    ...(withTls
      ? [haproxyFrontMethod(), 'Node TLS floor (TLS scenarios only): `tls.createServer` with `noDelay` and the certificate, key and CA Culex gets, node:tls defaults otherwise; per connection it reads until a whole CONNECT (fixed header + remaining length) has arrived, answers CONNACK `20 02 00 00` and holds the socket idle until DISCONNECT or end, nothing parsed or kept beyond that (bench/peers/node-tls-floor.mjs). The least any Node.js MQTT-over-TLS server does: Culex / Node TLS floor is Culex\'s own cost, Node TLS floor / Mosquitto that of Node\'s tls and its OpenSSL binding.']
      : []),
  ]
}

// ---------- a run ----------

export const describeExit = (child) => `exited during startup (${child.exitCode ?? child.signalCode}): ${lastLines(child.output.text)}`
export const peakRssKiB = (pid) => statusKiB(pid, 'VmHWM')
export const stopBroker = (child) => stopProcess(child, BROKER_STOP_TIMEOUT_MS)
// Every broker may open as many files as the machine lets it (the idle scenarios hold tens of thousands of sockets).
export const spawnBroker = (command, args) => spawnPinned(BROKER_CORE, command, args, { raiseFiles: true })

/**
 * Starts `broker` fresh on a free port (and, with tlsCertDir, a TLS listener on another) in a fresh
 * directory, runs `measure({ port, tls, pid })` (→ { figures, cpu, tls? }) and stops it again.
 * A run: { ok, brokerStarted, figures, cpu, tls, rssKiB } or { ok: false, brokerStarted, error }.
 */
export async function runOnFreshBroker (broker, tlsCertDir, measure) {
  const port = await freePort(HOST)
  const tls = tlsCertDir ? { port: await freePort(HOST, port), certDir: tlsCertDir } : undefined
  let spare = await freePort(HOST, port)
  while (spare === tls?.port) spare = await freePort(HOST, port)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `bench-${broker.name}-`))
  let child
  let companion
  let brokerStarted = false
  try {
    const prepared = broker.prepare(port, dir, tls, spare)
    if (prepared.companion) {
      companion = spawnBroker(prepared.companion.command, prepared.companion.args)
      await waitUntilAccepting(companion, HOST, prepared.companion.port, BROKER_START_TIMEOUT_MS, describeExit)
      if (prepared.companion.readyPort) await waitUntilAccepting(companion, HOST, prepared.companion.readyPort, BROKER_START_TIMEOUT_MS, describeExit)
    }
    child = spawnBroker(prepared.command, prepared.args)
    if (!broker.tlsOnly) await waitUntilAccepting(child, HOST, port, BROKER_START_TIMEOUT_MS, describeExit)
    if (tls) await waitUntilAccepting(child, HOST, tls.port, BROKER_START_TIMEOUT_MS, describeExit)
    if (prepared.readyPort) await waitUntilAccepting(child, HOST, prepared.readyPort, BROKER_START_TIMEOUT_MS, describeExit)
    brokerStarted = true
    // A pid list: proc.mjs sums CPU ticks and RSS over it.
    const pid = companion ? [child.pid, companion.pid] : child.pid
    const result = await measure({ port, tls, pid })
    return { ok: true, brokerStarted, figures: result.figures, cpu: result.cpu, tls: result.tls, rssKiB: peakRssKiB(pid) }
  } catch (error) {
    const gone = [child, companion].find((c) => c && hasExited(c))
    const crashed = brokerStarted && gone ? ` (broker exited: ${lastLines(gone.output.text, 2)})` : ''
    return { ok: false, brokerStarted, error: `${error.message}${crashed}` }
  } finally {
    if (child) await stopBroker(child)
    if (companion) await stopBroker(companion)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

// Runs a load generator; samples CPU (and broker RSS) when it reports the window opening and closing.
export async function runGenerator (command, args, brokerPid, timeoutMs) {
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
