// Latency: one publisher at a fixed rate to one subscriber, QoS 0, on a fresh broker; bench/loadgen
// measures send-to-receive time and reports the percentiles of every consecutive window, so that one
// stall shows as a bad window instead of being averaged (or median-ed) away.
import { runOnFreshBroker } from '../brokers.mjs'
import { cell, fmtInt, fmtRatio, ratioColumns, ratioHeader, table } from '../report.mjs'
import { describeLoadgenRun, runLoadgen } from './throughput.mjs'

const LATENCY_RATE = 5000
const WINDOW_MS = 1000
const WINDOWS = 30
// Culex's target: p99.9 and max each at most this many times Mosquitto's, in every window.
const TARGET_FACTOR = 2

const PERCENTILES = [
  { key: 'p50_us', label: 'p50' },
  { key: 'p99_us', label: 'p99' },
  { key: 'p999_us', label: 'p99.9' },
  { key: 'max_us', label: 'max' },
]
const TAIL = PERCENTILES.slice(2) // what the target is about

export const scenarios = [
  {
    name: 'latency',
    label: `Latency 1 → 1 at ${LATENCY_RATE.toLocaleString('en-US')} msg/s, QoS 0`,
    latency: true,
    qos: 0,
    args: ['--scenario', 'latency', '--rate', String(LATENCY_RATE), '--window-ms', String(WINDOW_MS)],
  },
]

// The measuring period is WINDOWS × WINDOW_MS whatever --duration says: a stall every ten seconds or so
// has to have a chance to show.
const MEASURE_S = (WINDOWS * WINDOW_MS) / 1000

export const runsOn = (broker) => !broker.tlsOnly && !broker.lightOnly
export const run = (scenario, broker, _options) =>
  runOnFreshBroker(broker, undefined, ({ port, pid }) => runLoadgen(scenario, port, pid, MEASURE_S))

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]
const windowsOf = (run) => (run?.ok ? run.figures.windows : null)
/** Per percentile key: the median over the windows and the worst (highest) window. */
const medianWindow = (run, key) => median(windowsOf(run).map((w) => w[key]))
const worstWindow = (run, key) => Math.max(...windowsOf(run).map((w) => w[key]))

export function describe (_scenario, run) {
  const worst = PERCENTILES.map((p) => `${p.label} ${fmtInt(worstWindow(run, p.key))}`).join(' ')
  const mid = PERCENTILES.map((p) => `${p.label} ${fmtInt(medianWindow(run, p.key))}`).join(' ')
  return describeLoadgenRun(run, `median window: ${mid} µs; worst window: ${worst} µs`)
}

// ---------- report ----------

export const method = () => `- Latency: one publisher sends ${fmtInt(LATENCY_RATE)} msg/s at QoS 0 to one subscriber on a fresh broker; CLOCK_MONOTONIC send time in the payload. After the warm-up, ${MEASURE_S} s measured as ${WINDOWS} consecutive ${WINDOW_MS / 1000}-second windows (by receive time); p50/p99/p99.9/max of each window. The summary gives, per percentile, the median window and the worst window over the ${WINDOWS}. The brokers run one after another, so "window i" of Culex and of Mosquitto are the same seconds after each one's warm-up, not the same wall-clock seconds: that lines up start-up and periodic work, but a hiccup of the shared VM lands in one broker's run only. Hence both checks: each window against Mosquitto's window i, and the worst window against Mosquitto's worst. Target: Culex's p99.9 and max each ≤ ${TARGET_FACTOR}× Mosquitto's, in every window.`

export function latencyTable (results, brokers, scenario) {
  const runs = results.runs[scenario.name] ?? {}
  const ratios = ratioColumns(brokers)
  const row = (label, pick, key) => [
    label,
    ...brokers.map((b) => cell(results, scenario, b, (run) => fmtInt(pick(run, key)))),
    ...ratios.map((r) => (windowsOf(runs[r.broker.name]) && windowsOf(runs[r.base.name])
      ? fmtRatio(pick(runs[r.broker.name], key), pick(runs[r.base.name], key))
      : 'n/a')),
  ]
  const summary = table(ratioHeader('', brokers, ratios), [
    ...PERCENTILES.map((p) => row(`${p.label} (µs), median window`, medianWindow, p.key)),
    ...PERCENTILES.map((p) => row(`${p.label} (µs), worst window`, worstWindow, p.key)),
  ])
  return [summary, windowTable(runs, brokers), ...targetLines(runs)].filter(Boolean).join('\n\n')
}

// One row per window: p99.9 and max of every broker.
function windowTable (runs, brokers) {
  const measured = brokers.filter((b) => windowsOf(runs[b.name]))
  if (!measured.length) return null
  const count = Math.max(...measured.map((b) => windowsOf(runs[b.name]).length))
  const header = ['Window', ...measured.flatMap((b) => TAIL.map((p) => `${b.label} ${p.label} (µs)`))]
  const rows = []
  for (let i = 0; i < count; i++) {
    rows.push([String(i + 1), ...measured.flatMap((b) => TAIL.map((p) => {
      const w = windowsOf(runs[b.name])[i]
      return w ? fmtInt(w[p.key]) : '–'
    }))])
  }
  return table(header, rows)
}

/** The windows where Culex is over the target against Mosquitto's same window, and the verdict. */
function targetLines (runs) {
  const culex = windowsOf(runs.culex)
  const mosquitto = windowsOf(runs.mosquitto)
  if (!culex || !mosquitto) return []
  const over = []
  for (let i = 0; i < Math.min(culex.length, mosquitto.length); i++) {
    const excess = TAIL
      .filter((p) => culex[i][p.key] > TARGET_FACTOR * mosquitto[i][p.key])
      .map((p) => `${p.label} ${fmtRatio(culex[i][p.key], mosquitto[i][p.key])}`)
    if (excess.length) over.push(`${i + 1} (${excess.join(', ')})`)
  }
  const worst = TAIL.map((p) => {
    const a = worstWindow(runs.culex, p.key)
    const b = worstWindow(runs.mosquitto, p.key)
    return { text: `${p.label} ${fmtRatio(a, b)}`, ok: a <= TARGET_FACTOR * b }
  })
  const pass = over.length === 0 && worst.every((w) => w.ok)
  return [
    `Windows where Culex's p99.9 or max exceeds ${TARGET_FACTOR}× Mosquitto's same window: ${over.length ? over.join('; ') : 'none'}.`,
    `Culex's worst window against Mosquitto's worst: ${worst.map((w) => w.text).join(', ')}.`,
    `Target (p99.9 and max each ≤ ${TARGET_FACTOR}× Mosquitto's, in every window and worst against worst): **${pass ? 'PASS' : 'FAIL'}**.`,
  ]
}
