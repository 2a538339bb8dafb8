// Start-up time: milliseconds from spawning a broker until its MQTT port accepts a TCP connection.
//
//   node bench/startup.mjs [--brokers culex-tcp,culex-default,mosquitto,aedes] [--runs 10] [--core 0]
//                          [--entry dist/broker.js] [--entry /tmp/other/dist/broker.js]
//
// Runs of the chosen brokers alternate (A B C A B C ...) so that a noisy spell hits all of them alike;
// prints median, min and max per broker. Several --entry (Culex builds, each with package.json and
// node_modules reachable from its dist/) compare builds side by side. bench/scenarios/startup.mjs (npm run bench) uses the exports.
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { CLOCK_TICKS, freePort, hasExited, processTicks, waitUntilAccepting } from './proc.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const HOST = '127.0.0.1'
const MOSQUITTO = '/usr/sbin/mosquitto'
export const STARTUP_RUNS = 10
const START_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 5_000
// How often the port is tried: the figures are this coarse.
const POLL_MS = 2

/** Median, min and max of a list of numbers. */
export function summarize (values) {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  return { median, min: sorted[0], max: sorted.at(-1), runs: sorted.length }
}

/** `culex certs init` into dir (the ssl and wss listeners of the default config need certificates). */
export function makeCulexCertificates (entry, dir) {
  execFileSync(process.execPath, [entry, 'certs', 'init', '--dir', dir], { stdio: 'ignore' })
  return dir
}

/**
 * etc/base.hocon as shipped (tcp, ssl, ws and wss listeners and the management API) with its ports moved
 * to free ones on 127.0.0.1, data in `dataDir` and the TLS files in `certDir`.
 */
export async function culexDefaultConfig (port, dataDir, certDir) {
  const other = async () => freePort(HOST, port)
  const tls = `ssl_options { certfile = ${JSON.stringify(path.join(certDir, 'server.pem'))}, keyfile = ${JSON.stringify(path.join(certDir, 'server.key'))}, cacertfile = ${JSON.stringify(path.join(certDir, 'ca.pem'))} }`
  return [
    `include ${JSON.stringify(path.join(ROOT, 'etc/base.hocon'))}`,
    `node.data_dir = ${JSON.stringify(dataDir)}`,
    `listeners.tcp.default.bind = "${HOST}:${port}"`,
    `listeners.ssl.default { bind = "${HOST}:${await other()}", ${tls} }`,
    `listeners.ws.default.bind = "${HOST}:${await other()}"`,
    `listeners.wss.default { bind = "${HOST}:${await other()}", ${tls} }`,
    `dashboard.listeners.http.bind = "${HOST}:${await other()}"`,
    '',
  ].join('\n')
}

/** The same TCP-only Culex configuration as the throughput scenarios of bench/run.mjs. */
export function culexTcpConfig (port, dataDir) {
  return [
    `node.data_dir = ${JSON.stringify(dataDir)}`,
    'log.console { enable = true, level = warning }',
    `listeners.tcp.default { bind = "${HOST}:${port}" }`,
    'listeners.ws.default { enable = false }',
    'dashboard.listeners.http.enable = false',
    '',
  ].join('\n')
}

/** A broker's prepare(port, dir) for the Culex build `entry` with the config `configOf(port, dir)` writes. */
export function culexPrepare (entry, configOf) {
  return async (port, dir) => {
    if (!fs.existsSync(entry)) throw new Error(`${entry} not found (npm run build)`)
    const config = path.join(dir, 'culex.hocon')
    fs.writeFileSync(config, await configOf(port, dir))
    return { command: process.execPath, args: [entry, '-c', config] }
  }
}

/**
 * Spawns `command` (pinned to `core` when given) and stops it (SIGTERM, SIGKILL after a while) once
 * host:port accepts. Returns { ms } from spawn until then and { cpuMs } the process had used by then
 * (utime + stime of all its threads, in clock ticks: coarse, but less disturbed by other load than ms).
 * Throws with the broker's last output when it exits first.
 */
export async function timeStartup ({ command, args, port, core, timeoutMs = START_TIMEOUT_MS }) {
  const [file, argv] = core === undefined ? [command, args] : ['taskset', ['-c', String(core), command, ...args]]
  let output = ''
  const started = performance.now()
  const child = spawn(file, argv, { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  for (const stream of [child.stdout, child.stderr]) stream.setEncoding('utf8').on('data', (chunk) => { output = (output + chunk).slice(-2000) })
  try {
    const describeExit = () => `${path.basename(command)} exited during start-up (${child.exitCode ?? child.signalCode}): ${output.trim() || '(no output)'}`
    await waitUntilAccepting(child, HOST, port, timeoutMs, describeExit, POLL_MS)
    const ms = performance.now() - started
    return { ms, cpuMs: (processTicks(child.pid) * 1000) / CLOCK_TICKS }
  } finally {
    if (!hasExited(child)) {
      child.kill('SIGTERM')
      const stopped = await Promise.race([exited.then(() => true), sleep(STOP_TIMEOUT_MS).then(() => false)])
      if (!stopped) child.kill('SIGKILL')
    }
    await exited
  }
}

/**
 * Start-up times of several brokers, their runs alternating. A broker is { name, prepare(port, dir) }
 * where prepare writes its config into the fresh directory `dir` and returns { command, args }.
 * Returns a Map name → { times, cpu } (ms per run) or { error } (a broker that fails once is not tried again).
 */
export async function measureStartups (brokers, { runs = STARTUP_RUNS, core, onRun } = {}) {
  const results = new Map(brokers.map((b) => [b.name, { times: [], cpu: [] }]))
  for (let i = 0; i < runs; i++) {
    for (const broker of brokers) {
      const result = results.get(broker.name)
      if (result.error) continue
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `startup-${broker.name.replace(/\W/g, '_')}-`))
      try {
        const port = await freePort(HOST)
        const { command, args } = await broker.prepare(port, dir)
        const { ms, cpuMs } = await timeStartup({ command, args, port, core })
        result.times.push(ms)
        result.cpu.push(cpuMs)
        onRun?.(broker, ms)
      } catch (error) {
        results.set(broker.name, { error: error.message })
      } finally {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    }
  }
  return results
}

// ---------- command line ----------

function culexBrokers (entry, label, certDir) {
  return [
    { name: `culex-tcp${label}`, prepare: culexPrepare(entry, culexTcpConfig) },
    { name: `culex-default${label}`, prepare: culexPrepare(entry, (port, dir) => culexDefaultConfig(port, dir, certDir)) },
  ]
}

const otherBrokers = [
  {
    name: 'mosquitto',
    prepare: (port, dir) => {
      const config = path.join(dir, 'mosquitto.conf')
      fs.writeFileSync(config, `listener ${port} ${HOST}\nallow_anonymous true\n`)
      return { command: MOSQUITTO, args: ['-c', config] }
    },
  },
  { name: 'aedes', prepare: (port) => ({ command: process.execPath, args: [path.join(ROOT, 'bench/peers/aedes.mjs'), String(port)] }) },
]

async function main () {
  const { values } = parseArgs({
    options: {
      brokers: { type: 'string', default: 'culex-tcp,culex-default,mosquitto,aedes' },
      runs: { type: 'string', default: String(STARTUP_RUNS) },
      core: { type: 'string' },
      entry: { type: 'string', multiple: true, default: [path.join(ROOT, 'dist/broker.js')] },
    },
  })
  const runs = Number(values.runs)
  if (!(Number.isInteger(runs) && runs > 0)) throw new Error(`--runs must be a positive integer, got ${values.runs}`)
  const wanted = values.brokers.split(',').map((s) => s.trim())
  const certDir = fs.mkdtempSync(path.join(os.tmpdir(), 'startup-certs-'))
  try {
    const entries = values.entry.map((e) => path.resolve(e))
    makeCulexCertificates(entries[0], certDir)
    const all = [
      ...entries.flatMap((entry, i) => culexBrokers(entry, entries.length > 1 ? `@${i}` : '', certDir)),
      ...otherBrokers,
    ]
    const brokers = all.filter((b) => wanted.includes(b.name.replace(/@\d+$/, '')))
    if (brokers.length === 0) throw new Error(`--brokers: none of ${values.brokers} (known: culex-tcp, culex-default, mosquitto, aedes)`)
    if (entries.length > 1) entries.forEach((entry, i) => console.log(`@${i} = ${entry}`))
    const results = await measureStartups(brokers, { runs, core: values.core, onRun: () => process.stdout.write('.') })
    process.stdout.write('\n')
    const width = Math.max(...brokers.map((b) => b.name.length))
    for (const [name, result] of results) {
      if (result.error) { console.log(`${name.padEnd(width)}  failed: ${result.error}`); continue }
      const { median, min, max } = summarize(result.times)
      const cpu = summarize(result.cpu)
      console.log(`${name.padEnd(width)}  median ${median.toFixed(0).padStart(4)} ms  min ${min.toFixed(0).padStart(4)}  max ${max.toFixed(0).padStart(4)}  CPU median ${cpu.median.toFixed(0).padStart(4)} ms  (${result.times.length} runs)`)
    }
  } finally {
    fs.rmSync(certDir, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((error) => {
    console.error(`startup: ${error.message}`)
    process.exitCode = 1
  })
}
