// Light load: the broker's CPU per message at the rates fleets send (paced, far below saturation), per
// connection in a connect/disconnect churn, and per second for idle connections sending keep-alives.
// bench/lightload.mjs generates the load; the figure is the broker's CPU over its measuring window.
import fs from 'node:fs'
import path from 'node:path'
import { HOST, ROOT, runGenerator, runOnFreshBroker } from '../brokers.mjs'
import { raiseFileLimit } from '../proc.mjs'
import { makeCerts } from './tls.mjs'
import { cell, describeCpu, fmtInt, fmtRatio, ratioColumns, ratioHeader, table } from '../report.mjs'

const GENERATOR = path.join(ROOT, 'bench/lightload.mjs')
const WARMUP_S = 2
const IDLE_CLIENTS = 10000

const paced = (name, label, pairs, rate) => ({ name, label, light: 'message', args: ['--mode', 'pairs', '--pairs', String(pairs), '--rate', String(rate)] })

export const scenarios = [
  paced('light-1k', '50 pairs, 1,000 msg/s in all, QoS 0', 50, 1000),
  paced('light-10k', '50 pairs, 10,000 msg/s in all, QoS 0', 50, 10000),
  paced('light-1k-devices', '1,000 publishers at 1 msg/s each (1,000 pairs), QoS 0', 1000, 1000),
  { name: 'light-churn', label: 'CONNECT, CONNACK, DISCONNECT (10 at a time, plain TCP)', light: 'connection', args: ['--mode', 'churn', '--parallel', '10'] },
  { name: 'light-churn-tls', label: 'CONNECT, CONNACK, DISCONNECT over TLS 1.3, full handshake, ECDSA P-256 (10 at a time)', light: 'connection', overTls: true, args: ['--mode', 'churn', '--parallel', '10'] },
  { name: 'light-idle', label: `${fmtInt(IDLE_CLIENTS)} idle connections, keep-alive 60 s (PINGREQ at 45 s, spread)`, light: 'second', args: ['--mode', 'idle', '--clients', String(IDLE_CLIENTS), '--keepalive', '60'] },
]

// The TLS churn's certificates (`culex certs init --key ec256`), made once.
export function setUp (options) {
  if (options.scenarios.some((s) => s.overTls)) options.lightCertDir = makeCerts(options.scratchDir(), 'ec256', 'light-ec256')
}

export const runsOn = (broker) => !broker.tlsOnly

// A few microseconds per message move with the machine from one run to the next (a busier neighbour, the
// hypervisor's wake-ups), more than the brokers differ by: each broker runs several times, in turns with
// the others, and its median run counts.
export const turns = (options) => options.lightTurns ?? 1

/** The median run by CPU (the lower middle of an even count), with every turn's figure; the last run when none succeeded. */
export function pick (scenario, runs) {
  const ok = runs.filter((r) => r.ok && cpuMicros(scenario, r) !== null).sort((a, b) => cpuMicros(scenario, a) - cpuMicros(scenario, b))
  if (ok.length === 0) return runs[runs.length - 1]
  return { ...ok[Math.floor((ok.length - 1) / 2)], turns: runs.map((r) => (r.ok ? cpuMicros(scenario, r) : null)) }
}

export const run = (scenario, broker, options) => runOnFreshBroker(broker, scenario.overTls ? options.lightCertDir : undefined, async ({ port, tls, pid }) => {
  const idle = scenario.light === 'second'
  if (idle) raiseFileLimit(pid, IDLE_CLIENTS + 100, broker.label)
  // The idle window is long enough for a third of the keep-alives to come in.
  const duration = idle ? Math.max(15, options.duration) : Math.max(5, options.duration)
  const target = tls ? ['--port', String(tls.port), '--ca', path.join(tls.certDir, 'ca.pem')] : ['--port', String(port)]
  const args = [GENERATOR, '--host', HOST, ...target, '--duration', String(duration), '--warmup', String(WARMUP_S), ...scenario.args]
  // The generator holds every idle connection's socket too.
  const command = idle ? 'prlimit' : process.execPath
  const result = await runGenerator(command, idle ? [`--nofile=${IDLE_CLIENTS + 1000}:${IDLE_CLIENTS + 1000}`, process.execPath, ...args] : args, pid, (WARMUP_S + duration + 180) * 1000)
  return result
})

/**
 * One more run of Culex under `--cpu-prof`, after the counted turns (the profiler slows it): the profile,
 * written as the broker exits, is options.profileDir/<scenario>.cpuprofile, a flame graph in Chrome
 * DevTools (Performance, Load profile) or speedscope.
 */
export async function profile (scenario, broker, options) {
  fs.mkdirSync(options.profileDir, { recursive: true })
  const name = `${scenario.name}.cpuprofile`
  const file = path.join(options.profileDir, name)
  fs.rmSync(file, { force: true })
  const prepare = (...args) => {
    const prepared = broker.prepare(...args)
    return { ...prepared, args: ['--cpu-prof', `--cpu-prof-dir=${options.profileDir}`, `--cpu-prof-name=${name}`, ...prepared.args] }
  }
  const result = await run(scenario, { ...broker, prepare }, options)
  if (fs.existsSync(file)) return { ok: true, file }
  return { ok: false, error: result.ok ? 'no profile written (the broker did not exit by itself)' : result.error }
}

/** Where the profiles of profile() are, for the report; null when none was made. */
export function profilesNote (results, options) {
  const made = Object.entries(results.profiles ?? {}).filter(([, p]) => p.ok)
  if (made.length === 0) return null
  const relative = path.relative(ROOT, options.profileDir)
  return `CPU profiles of one more Culex run per light scenario, after the counted turns and not counted (\`--cpu-prof\` slows it), in ${relative}/ (not committed): ${made.map(([name]) => `\`${name}.cpuprofile\``).join(', ')}. Open one in Chrome DevTools (Performance, Load profile) or speedscope for a flame graph of where a light load's CPU goes.`
}

/** Broker CPU in the window, in µs: per message delivered, per connection, or per second. */
export function cpuMicros (scenario, run) {
  const f = run.figures
  const cpuSeconds = (run.cpu.broker / 100) * f.window_s
  const per = scenario.light === 'message' ? f.received : scenario.light === 'connection' ? f.connections : f.window_s
  return per > 0 ? (cpuSeconds * 1e6) / per : null
}

const UNITS = { message: 'µs per message', connection: 'µs per connection', second: 'ms per second' }
/** A figure in its row's unit: µs per message or connection, ms per second. */
const inUnit = (scenario, us) => (scenario.light === 'second' ? (us / 1000).toFixed(1) : fmtInt(us))
const shown = (scenario, run) => {
  const us = cpuMicros(scenario, run)
  return us == null ? 'n/a' : inUnit(scenario, us)
}

export function describe (scenario, run) {
  const f = run.figures
  const what = scenario.light === 'message' ? `${fmtInt(f.messages_per_s)} msg/s delivered` : scenario.light === 'connection' ? `${fmtInt(f.connections_per_s)} connections/s` : `${fmtInt(f.pings)} PINGREQs`
  return `${shown(scenario, run)} ${UNITS[scenario.light]}  (${what})  ${describeCpu(run)}`
}

export const isLight = (scenario) => scenario.light !== undefined

export const method = (options) => (options.scenarios.some(isLight)
  ? [`- Light load (bench/lightload.mjs, Node.js over raw sockets): the broker's CPU time over the measuring window (${WARMUP_S} s warm-up), divided by what it served; each scenario runs ${options.lightTurns ?? 1} time(s) per broker, the brokers in turns (the order reversed every turn), and the figure is each broker's median run (every turn's figure in the table after it). Paced publishing sends each message when it is due (a 1 ms timer), round robin over the publishers, 16-byte payloads, clean sessions; churn opens, acknowledges and closes connections 10 at a time (over TLS: TLS 1.3, a full handshake each, the server's ECDSA P-256 certificate made by \`culex certs init --key ec256\` and verified against its CA); ${fmtInt(IDLE_CLIENTS)} idle clients send PINGREQ every 45 s, spread evenly over the period, for at least 15 s. Node floor (light load only, bench/peers/node-floor.mjs): \`net.createServer\` (and \`tls.createServer\` for the TLS churn) reading and writing each plain socket as Culex does (net.Socket's \`onread\`: libuv reads into one buffer, no Readable stream; each write straight to the socket's handle, no Writable stream; TLS sockets through the stream; connections accepted by Culex's own accept callback, src/listeners/accept.ts) and answering CONNECT, SUBSCRIBE and PINGREQ with fixed bytes and forwarding each PUBLISH's bytes to its topic's one subscriber, nothing validated or kept per connection: the least a Node.js broker does per packet. Culex / Node floor is Culex's own cost, Node floor / Mosquitto Node's.`]
  : [])

export function lightTable (results, brokers, scenarios) {
  const ratios = ratioColumns(brokers)
  // Culex's own cost: against the least a Node broker does (bench/peers/node-floor.mjs).
  const floor = brokers.find((b) => b.name === 'node-floor')
  const culex = brokers.find((b) => b.name === 'culex')
  if (floor && culex) ratios.push({ broker: culex, base: floor })
  const cpu = (s, broker) => {
    const run = results.runs[s.name]?.[broker.name]
    return run?.ok ? cpuMicros(s, run) : null
  }
  const rows = scenarios.filter(isLight).map((s) => [
    `${s.label} (${UNITS[s.light]})`,
    ...brokers.map((b) => cell(results, s, b, (run) => shown(s, run))),
    ...ratios.map((r) => fmtRatio(cpu(s, r.broker), cpu(s, r.base))),
  ])
  return table(ratioHeader('Broker CPU', brokers, ratios), rows)
}

/** Every turn's figure of each broker (lightTable has their medians); null when the scenarios ran once. */
export function lightTurnsTable (results, brokers, scenarios) {
  const light = scenarios.filter(isLight)
  if (!light.some((s) => brokers.some((b) => results.runs[s.name]?.[b.name]?.turns))) return null
  const rows = light.map((s) => [
    `${s.label} (${UNITS[s.light]})`,
    ...brokers.map((b) => {
      const run = results.runs[s.name]?.[b.name]
      return run?.turns ? run.turns.map((us) => (us == null ? 'failed' : inUnit(s, us))).join(' / ') : cell(results, s, b, (r) => shown(s, r))
    }),
  ])
  return table(['Every turn (first / second / ...)', ...brokers.map((b) => b.label)], rows)
}
