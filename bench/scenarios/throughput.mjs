// Throughput: fan-in, fan-out and pairs at QoS 0 and 1 (and QoS 1 to persistent subscribers), counted
// by bench/loadgen over the measuring window. Also the load generator that latency and cluster use.
import path from 'node:path'
import { HOST, ROOT, runGenerator, runOnFreshBroker } from '../brokers.mjs'
import { buildC } from '../proc.mjs'
import { cell, describeCpu, describeDisturbed, fmtInt, fmtMiB, fmtRatio, isLoadgenBound, ratioColumns, ratioHeader, table } from '../report.mjs'

const LOADGEN_SRC = path.join(ROOT, 'bench/loadgen.c')
const LOADGEN_BIN = path.join(ROOT, 'bench/loadgen')
// Must match the defaults of bench/loadgen.c; they only feed the method paragraph.
const LOADGEN_DEFAULTS = { payloadBytes: 16, inflight: 300, warmupS: 1, drainS: 10, setupTimeoutS: 5 }

export function throughput (name, label, unit, kind, qos) {
  return { name, label, unit, qos, args: ['--scenario', kind, '--qos', String(qos)] }
}

export const scenarios = [
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
]

// Every run of `npm run bench` builds the load generator, whichever scenarios it runs.
export const setUp = () => buildC(LOADGEN_SRC, LOADGEN_BIN)
export const runsOn = (broker) => !broker.tlsOnly && !broker.lightOnly
export const run = (scenario, broker, options) =>
  runOnFreshBroker(broker, undefined, ({ port, pid }) => runLoadgen(scenario, port, pid, options.duration))

function loadgenTimeoutMs (duration) {
  const { warmupS, drainS, setupTimeoutS } = LOADGEN_DEFAULTS
  return (setupTimeoutS + warmupS + duration + drainS + 10) * 1000
}

/** bench/loadgen with the scenario's arguments against port (and subPort for the subscribers). */
export function runLoadgen (scenario, port, brokerPid, duration, subPort) {
  const args = ['--host', HOST, '--port', String(port), ...(subPort ? ['--sub-port', String(subPort)] : []), '--duration', String(duration), ...scenario.args]
  return runGenerator(LOADGEN_BIN, args, brokerPid, loadgenTimeoutMs(duration))
}

/** A console line of a bench/loadgen run, `main` its figure. */
export function describeLoadgenRun (run, main) {
  const f = run.figures
  const lost = f.lost == null ? '' : `  lost ${f.lost}${f.drain_cut_off ? ' (drain cut off)' : ''}`
  const bound = isLoadgenBound(run) ? '  LOADGEN-BOUND' : ''
  return `${main}${lost}  ${describeCpu(run)}  rss ${fmtMiB(run.rssKiB)}${describeDisturbed(run)}${bound}`
}

export const describe = (scenario, run) => describeLoadgenRun(run, `${fmtInt(run.figures.delivered_per_s)} ${scenario.unit}`)

// ---------- report ----------

/** Method paragraph: the load, before the cluster's line. */
export function loadMethod (options) {
  const { payloadBytes, inflight, warmupS } = LOADGEN_DEFAULTS
  return [
    `- ${payloadBytes}-byte payloads, clean sessions, TCP_NODELAY on every socket. ${warmupS} s warm-up, then a ${options.duration} s measuring window. Each publisher keeps at most ${inflight} messages in flight that its subscribers have not received yet (the payload carries publisher index, sequence number and send time), so the figures measure the broker rather than socket buffers.`,
    '- Fan-in: 100 publishers on `bench/in/<i>`, one subscriber on `bench/in/+`. Fan-out: one publisher, 100 subscribers on the same topic; counted in deliveries/s. Pairs: 50 publisher/subscriber pairs, each on its own topic.',
  ]
}

/** Method paragraph: QoS 1, after the cluster's line. */
export const qos1Method = () => `- QoS 1: publishers also wait for PUBACKs, subscribers subscribe at QoS 1 and acknowledge every delivery. After the window publishing stops and the generator waits until everything was delivered, the broker has been silent for 1 s, or ${LOADGEN_DEFAULTS.drainS} s passed; a message the broker acknowledged but never delivered counts as lost.`

// The throughput table holds the cluster scenarios too.
export const isThroughput = (scenario) => !scenario.latency && !scenario.tls && !scenario.startup && !scenario.light
const headline = (run) => (run?.ok ? run.figures.delivered_per_s : null)

export function throughputTable (results, brokers, scenarios) {
  const ratios = ratioColumns(brokers)
  const rows = scenarios.filter(isThroughput).map((s) => [
    `${s.label} (${s.unit})`,
    ...brokers.map((b) => cell(results, s, b, (run) => fmtInt(run.figures.delivered_per_s))),
    ...ratios.map((r) => fmtRatio(headline(results.runs[s.name]?.[r.broker.name]), headline(results.runs[s.name]?.[r.base.name]))),
  ])
  return table(ratioHeader('Scenario', brokers, ratios), rows)
}

function describeLost (run) {
  const { lost, sent, drain_cut_off: cutOff } = run.figures
  return `${fmtInt(lost)} of ${fmtInt(sent)}${cutOff ? ' (drain cut off, still delivering)' : ''}`
}

export function lostTable (results, brokers, scenarios) {
  const rows = scenarios.filter((s) => s.qos === 1).map((s) => [
    s.label,
    ...brokers.map((b) => cell(results, s, b, describeLost)),
  ])
  return rows.length ? table(['Scenario', ...brokers.map((b) => b.label)], rows) : null
}
