// Latency: one publisher at a fixed rate to one subscriber, QoS 0; percentiles of the send-to-receive
// time bench/loadgen measures, the median over several windows on the same broker.
import { runOnFreshBroker } from '../brokers.mjs'
import { cell, fmtInt, fmtRatio, ratioColumns, ratioHeader, table } from '../report.mjs'
import { describeLoadgenRun, runLoadgen } from './throughput.mjs'

const LATENCY_RATE = 5000
const LATENCY_WINDOWS = 5

export const scenarios = [
  {
    name: 'latency',
    label: `Latency 1 → 1 at ${LATENCY_RATE.toLocaleString('en-US')} msg/s, QoS 0`,
    latency: true,
    qos: 0,
    args: ['--scenario', 'latency', '--rate', String(LATENCY_RATE)],
  },
]

export const runsOn = (broker) => !broker.tlsOnly
export const run = (scenario, broker, options) =>
  runOnFreshBroker(broker, undefined, ({ port, pid }) => runLatency(scenario, port, pid, options.duration))

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

export const describe = (_scenario, run) => describeLoadgenRun(run, `p50 ${run.figures.p50_us.toFixed(0)} µs  p99 ${run.figures.p99_us.toFixed(0)} µs`)

// ---------- report ----------

export const method = () => `- Latency: one publisher sends ${fmtInt(LATENCY_RATE)} msg/s at QoS 0 to one subscriber; CLOCK_MONOTONIC send time in the payload, percentiles over the window; ${LATENCY_WINDOWS} windows one after another on the same broker, each figure the median of the windows' (tail latency on this shared VM moves by several times from one window to the next).`

export function latencyTable (results, brokers, scenario) {
  const ratios = ratioColumns(brokers)
  const runs = results.runs[scenario.name] ?? {}
  const row = (label, key) => [
    label,
    ...brokers.map((b) => cell(results, scenario, b, (run) => fmtInt(run.figures[key]))),
    ...ratios.map((r) => fmtRatio(runs[r.broker.name]?.figures?.[key], runs[r.base.name]?.figures?.[key])),
  ]
  return table(ratioHeader('', brokers, ratios), [row('p50 (µs)', 'p50_us'), row('p99 (µs)', 'p99_us'), row('max (µs)', 'max_us')])
}
