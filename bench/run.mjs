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
//   node bench/run.mjs [--only culex,mosquitto,aedes,node-tls-floor,node-floor] [--scenarios fanin0,latency,tls-idle-1k]
//                      [--duration 4] [--light-turns 3] [--no-write] [--no-profiles]
//
// The brokers are in bench/brokers.mjs, the scenarios in bench/scenarios/*.mjs (GROUPS below). A group
// exports `scenarios`, `run(scenario, broker, options)` → run and `describe(scenario, run)` → console text,
// `runsOn(broker)`, and optionally `setUp(options)` (before the first scenario; may drop its scenarios).
// A group with `together` runs once for all brokers: `run(scenario, brokers, options)` → rows. A group with
// `turns(options)` > 1 runs each scenario that many times per broker, the brokers in turns (the order reversed
// every turn), and `pick(scenario, runs)` → the run that stands for them. A group with `profile(scenario,
// culex, options)` gets one more Culex run per scenario after the turns, for a CPU profile in bench/profiles/
// (not with --no-profiles).
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { BROKERS, BROKER_CORE, LOADGEN_CORE, ROOT, brokerConfigDescription } from './brokers.mjs'
import { CLOCK_TICKS, coreTicks, killAllChildren } from './proc.mjs'
import { writeBetweenMarkers } from './report-file.mjs'
import { INTERFERENCE_WARNING_PCT, allRuns, environment, notes, runsTable } from './report.mjs'
import * as authz from './scenarios/authz.mjs'
import * as authn from './scenarios/authn.mjs'
import * as cluster from './scenarios/cluster.mjs'
import * as latency from './scenarios/latency.mjs'
import * as light from './scenarios/light.mjs'
import * as startup from './scenarios/startup.mjs'
import * as throughput from './scenarios/throughput.mjs'
import * as tls from './scenarios/tls.mjs'

const GROUPS = [throughput, latency, light, cluster, authn, authz, tls, startup]
const SCENARIOS = GROUPS.flatMap((group) => group.scenarios)
const groupOf = new Map(GROUPS.flatMap((group) => group.scenarios.map((s) => [s, group])))

const BENCHMARKS_MD = path.join(ROOT, 'BENCHMARKS.md')
const BEGIN_MARKER = '<!-- bench:begin -->'
const END_MARKER = '<!-- bench:end -->'

// ---------- command line ----------

function parseOptions () {
  const { values } = parseArgs({
    options: {
      only: { type: 'string' },
      scenarios: { type: 'string' },
      duration: { type: 'string', default: '4' },
      'light-turns': { type: 'string', default: '3' },
      'no-write': { type: 'boolean', default: false },
      'no-profiles': { type: 'boolean', default: false },
    },
  })
  const duration = Number(values.duration)
  if (!(duration > 0 && duration <= 60)) throw new Error(`--duration must be a number of seconds in (0, 60], got ${values.duration}`)
  const lightTurns = Number(values['light-turns'])
  if (!(Number.isInteger(lightTurns) && lightTurns >= 1 && lightTurns <= 9)) throw new Error(`--light-turns must be an integer in [1, 9], got ${values['light-turns']}`)
  return {
    brokers: pickByName(BROKERS, values.only, '--only'),
    scenarios: pickByName(SCENARIOS, values.scenarios, '--scenarios'),
    duration,
    lightTurns,
    write: !values['no-write'],
    profileDir: values['no-profiles'] ? null : path.join(ROOT, 'bench/profiles'),
    command: process.argv.length > 2 ? `node bench/run.mjs ${process.argv.slice(2).join(' ')}` : 'npm run bench',
    scratchDir,
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

// Certificates for the TLS and start-up scenarios, made on first use, removed at exit.
let scratchPath = null
function scratchDir () {
  scratchPath ??= fs.mkdtempSync(path.join(os.tmpdir(), 'bench-certs-'))
  return scratchPath
}

// ---------- the runs ----------

// A broker that has never come up is "not available" from then on; one that
// did come up before gets a failed run instead. A run may be skipped without
// starting the broker ({ ok: false, skipped: true, error: why }), e.g. when the
// machine's limits cannot hold it.
async function benchmark (options) {
  const results = { runs: {}, rows: {}, available: new Set(options.brokers.map((b) => b.name)), unavailableReasons: {} }
  const cameUp = new Set()
  const nameWidth = Math.max(8, ...options.scenarios.map((s) => s.name.length))
  const labelWidth = Math.max(10, ...options.brokers.map((b) => b.label.length))
  const seconds = (started) => `[${((Date.now() - started) / 1000).toFixed(1)} s]`
  for (const scenario of options.scenarios) {
    const group = groupOf.get(scenario)
    results.runs[scenario.name] = {}
    const available = options.brokers.filter((b) => results.available.has(b.name))
    if (group.together) {
      const started = Date.now()
      const rows = results.rows[scenario.name] = await group.run(scenario, available, options)
      const prefix = `${scenario.name.padEnd(nameWidth)} ${seconds(started)}`
      for (const row of rows) console.log(`${prefix} ${row.label}: ${group.describe(scenario, row)}`)
      continue
    }
    const turns = group.turns?.(options) ?? 1
    const runs = new Map()
    for (let turn = 0; turn < turns; turn++) {
      const order = available.filter(group.runsOn)
      if (turn % 2 === 1) order.reverse()
      for (const broker of order.filter((b) => results.available.has(b.name))) {
        const started = Date.now()
        const run = await group.run(scenario, broker, options)
        const label = turns > 1 ? `${broker.label} (${turn + 1}/${turns})` : broker.label
        const prefix = `${scenario.name.padEnd(nameWidth)} ${label.padEnd(labelWidth)} ${seconds(started)}`
        if (!run.brokerStarted && !run.skipped && !cameUp.has(broker.name)) {
          results.available.delete(broker.name)
          results.unavailableReasons[broker.name] = run.error
          console.log(`${prefix} not available: ${run.error}`)
          continue
        }
        cameUp.add(broker.name)
        runs.set(broker.name, [...(runs.get(broker.name) ?? []), run])
        console.log(`${prefix} ${run.ok ? group.describe(scenario, run) : `${run.skipped ? 'SKIPPED' : 'FAILED'}: ${run.error}`}`)
      }
    }
    for (const [name, list] of runs) results.runs[scenario.name][name] = list.length > 1 ? group.pick(scenario, list) : list[0]
    const culex = available.find((b) => b.name === 'culex' && results.available.has(b.name))
    if (group.profile && options.profileDir && culex) {
      const started = Date.now()
      const made = (results.profiles ??= {})[scenario.name] = await group.profile(scenario, culex, options)
      console.log(`${scenario.name.padEnd(nameWidth)} ${'Culex profile'.padEnd(labelWidth)} ${seconds(started)} ${made.ok ? path.relative(ROOT, made.file) : `FAILED: ${made.error}`}`)
    }
  }
  return results
}

// ---------- report ----------

function methodSection (env, options) {
  return [
    `Generated ${env.date} by \`${options.command}\`.`,
    '',
    `- Machine: ${env.cpus} CPUs (${env.cpuModel}), ${env.kernel}; Node ${env.node}, Mosquitto ${env.mosquitto}, aedes ${env.aedes}, Culex ${env.culex}.`,
    `- The broker runs pinned to core ${BROKER_CORE} (\`taskset -c ${BROKER_CORE}\`), the load generator (bench/loadgen.c: one thread, epoll, its own MQTT 3.1.1 client code) pinned to core ${LOADGEN_CORE}. Every scenario gets a fresh broker process on a fresh loopback port, and its load starts once the broker is fully started: for Culex, once its management API accepts too (it opens the MQTT port first and loads the API after).`,
    ...throughput.loadMethod(options),
    ...cluster.method(options),
    ...authz.method(options),
    throughput.qos1Method(),
    latency.method(),
    ...light.method(options),
    `- CPU: utime+stime from /proc/<pid>/stat over the window, 100% = one core. "Other" is what else ran on the two cores and "steal" what the hypervisor took (/proc/stat). Peak RSS is the broker's VmHWM.`,
    ...tls.method(env, options),
    ...startup.method(options),
    ...authn.method(options),
    ...brokerConfigDescription(options.scenarios.some(tls.isTls)).map((line) => `- ${line}`),
  ].join('\n')
}

function renderReport (results, options, env) {
  const { brokers: allBrokers, scenarios } = options
  const brokers = allBrokers.filter((b) => !b.tlsOnly && !b.lightOnly) // columns of the tables other than the TLS and light ones
  const latencyScenario = scenarios.find((s) => s.latency)
  const lost = throughput.lostTable(results, brokers, scenarios)
  const redis = cluster.redisTable(results, scenarios)
  const unavailable = allBrokers
    .filter((b) => !results.available.has(b.name))
    .map((b) => `- ${b.label}: not available — ${results.unavailableReasons[b.name]}`)
  const withTls = scenarios.some(tls.isTls)
  const parts = [
    '## Results',
    methodSection(env, options),
    ...(unavailable.length ? [unavailable.join('\n')] : []),
    ...(scenarios.some(throughput.isThroughput) ? ['### Throughput (higher is better)', throughput.throughputTable(results, brokers, scenarios)] : []),
    ...(latencyScenario ? [`### ${latencyScenario.label} (lower is better)`, latency.latencyTable(results, brokers, latencyScenario)] : []),
    ...(scenarios.some(light.isLight) ? ['### Light load: broker CPU per message, per connection and per second of idle keep-alives (lower is better)', light.lightTable(results, allBrokers.filter((b) => !b.tlsOnly), scenarios)] : []),
    ...[light.lightTurnsTable(results, allBrokers.filter((b) => !b.tlsOnly), scenarios), light.profilesNote(results, options)].filter((t) => t !== null),
    ...(lost ? ['### QoS 1 lost messages (acknowledged but never delivered)', lost] : []),
    ...(redis ? ['### Cluster: what crossed Redis (subscribers on one node only: nothing should)', redis] : []),
    ...(withTls ? ['### TLS: broker CPU per handshake and memory per idle connection (lower is better)', tls.tlsTable(results, allBrokers.filter((b) => !b.lightOnly), scenarios)] : []),
    ...(results.rows.startup ? ['### Start-up: spawn until the MQTT port accepts TCP connections (lower is better)', startup.startupTable(results.rows.startup)] : []),
    ...(results.rows['authn-connect']?.length ? ['### Authentication: CONNECTs per second through one authenticator (higher is better)', authn.authnTable(results.rows['authn-connect'])] : []),
    ...(options.tlsSkipped ? [`TLS scenarios not run: ${options.tlsSkipped}`] : []),
    ...notes(results),
    ...(withTls ? ['### TLS details', tls.tlsDetailsTable(results, allBrokers.filter((b) => !b.lightOnly), scenarios)] : []),
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

// ---------- main ----------

async function main () {
  const options = parseOptions()
  checkMachine()
  for (const group of GROUPS) group.setUp?.(options)
  await warnIfCoresBusy()
  const started = Date.now()
  const results = await benchmark(options)
  const report = renderReport(results, options, environment())
  console.log(`\n${report}\n`)
  console.log(`(${Math.round((Date.now() - started) / 1000)} s)`)
  if (options.write) {
    writeBetweenMarkers(BENCHMARKS_MD, BEGIN_MARKER, END_MARKER, report, DEFAULT_INTRO)
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
  if (scratchPath) fs.rmSync(scratchPath, { recursive: true, force: true })
})

main().catch((error) => {
  console.error(`bench: ${error.message}`)
  process.exitCode = 1
})
