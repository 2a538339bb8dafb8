#!/usr/bin/env node
// npm run bench:workers: how Culex scales with node.workers on one host. For each worker count and
// scenario, a fresh `node dist/broker.js` (the primary and its workers) pinned to cores 0..N-1, and
// bench/loadgen pinned to core N when the machine has it, else to the last core (shared with a worker:
// the table says so). Broker CPU is the primary's and the workers' together. Results replace the text
// between the bench:workers markers of BENCHMARKS.md.
//
//   node bench/workers.mjs [--workers 1,2] [--scenarios fanin,pairs,fanout] [--duration 4] [--no-write]
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { buildC, cpuPercentages, freePort, gitRevision, hasExited, sampleCpu, statusKiB, waitUntilAccepting } from './proc.mjs'
import { writeBetweenMarkers } from './report-file.mjs'

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..')
const HOST = '127.0.0.1'
const LOADGEN = path.join(ROOT, 'bench/loadgen')
const SCENARIOS = {
  fanin: { name: 'Fan-in 100 → 1, QoS 0 (msg/s)', args: ['--scenario', 'fanin'], figure: 'delivered_per_s' },
  pairs: { name: '50 pairs, QoS 0 (msg/s)', args: ['--scenario', 'pairs'], figure: 'delivered_per_s' },
  fanout: { name: 'Fan-out 1 → 100, QoS 0 (deliveries/s)', args: ['--scenario', 'fanout'], figure: 'delivered_per_s' },
  fanin1: { name: 'Fan-in 100 → 1, QoS 1 (msg/s)', args: ['--scenario', 'fanin', '--qos', '1'], figure: 'delivered_per_s' },
}

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: '1,2' },
    scenarios: { type: 'string', default: 'fanin,pairs,fanout,fanin1' },
    duration: { type: 'string', default: '4' },
    'no-write': { type: 'boolean', default: false },
  },
})
const counts = values.workers.split(',').map(Number)
const scenarios = values.scenarios.split(',').map((s) => {
  if (!SCENARIOS[s]) throw new Error(`unknown scenario ${s}: one of ${Object.keys(SCENARIOS).join(', ')}`)
  return s
})
const duration = Number(values.duration)
const cores = os.availableParallelism()

buildC(path.join(ROOT, 'bench/loadgen.c'), LOADGEN)

/** The primary's children (its workers). */
function children (pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

async function startBroker (workers, port, dir) {
  const conf = path.join(dir, 'culex.hocon')
  fs.writeFileSync(conf, [
    `node { data_dir = "${dir}", workers = ${workers} }`,
    'log.console { enable = true, level = warning }',
    `listeners.tcp.default { bind = "${HOST}:${port}" }`,
    'listeners.ws.default { enable = false }',
    'listeners.ssl.default { enable = false }',
    'listeners.wss.default { enable = false }',
    'dashboard.listeners.http.enable = false',
    'mqtt { max_mqueue_len = 10000000, max_inflight = 65535 }',
  ].join('\n'))
  const brokerCores = `0-${Math.min(workers, cores) - 1}`
  const child = spawn('taskset', ['-c', brokerCores, process.execPath, path.join(ROOT, 'dist/broker.js'), '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  await waitUntilAccepting(child, HOST, port, 15_000, () => `broker exited during start-up: ${stderr.slice(-500)}`)
  // Every worker listens before the primary reports ready; give the last one a moment to settle.
  const deadline = Date.now() + 10_000
  while (workers > 1 && children(child.pid).length < workers && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  await new Promise((resolve) => setTimeout(resolve, 500))
  return child
}

function runLoadgen (scenario, port, pids, loadgenCore) {
  return new Promise((resolve, reject) => {
    const args = ['-c', String(loadgenCore), LOADGEN, '--host', HOST, '--port', String(port), '--duration', String(duration), ...SCENARIOS[scenario].args]
    const gen = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let begin = null
    let end = null
    const sample = () => sampleCpu(pids(), gen.pid, [...Array(cores).keys()])
    let marks = ''
    gen.stdout.on('data', (d) => { out += d })
    // The generator marks its measuring window on stderr.
    gen.stderr.on('data', (d) => {
      marks += d
      if (!begin && marks.includes('window-begin')) begin = sample()
      if (!end && marks.includes('window-end')) end = sample()
    })
    const timer = setTimeout(() => gen.kill('SIGKILL'), (duration + 30) * 1000)
    gen.on('exit', (code) => {
      clearTimeout(timer)
      if (code !== 0 || !begin || !end) return reject(new Error(`loadgen failed (${code}): ${out.slice(-300)}`))
      resolve({ figures: JSON.parse(out.trim().split('\n').pop()), ...cpuPercentages(begin, end) })
    })
  })
}

async function stop (child) {
  if (hasExited(child)) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  await exited
  clearTimeout(timer)
}

const results = []
for (const scenario of scenarios) {
  for (const workers of counts) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-workers-'))
    const port = await freePort(HOST)
    const loadgenCore = Math.min(workers, cores - 1)
    const shared = workers >= cores
    let child
    try {
      child = await startBroker(workers, port, dir)
      const pids = () => [child.pid, ...children(child.pid)]
      const run = await runLoadgen(scenario, port, pids, loadgenCore)
      const rssKiB = statusKiB(pids(), 'VmRSS')
      const figure = run.figures[SCENARIOS[scenario].figure]
      results.push({ scenario, workers, figure, ...run, rssKiB, shared, loadgenCore, lost: run.figures.lost })
      console.log(`${scenario.padEnd(7)} workers ${workers}: ${Math.round(figure).toLocaleString('en-US')}/s  broker CPU ${run.broker.toFixed(0)}%  loadgen ${run.loadgen.toFixed(0)}%${shared ? ' (loadgen shares a worker core)' : ''}`)
    } catch (err) {
      results.push({ scenario, workers, error: err.message })
      console.log(`${scenario} workers ${workers}: ${err.message}`)
    } finally {
      if (child) await stop(child)
      fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

function report () {
  const fmt = (n) => Math.round(n).toLocaleString('en-US')
  const lines = [
    '## Scaling with node.workers',
    '',
    `Generated ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`npm run bench:workers\` (bench/workers.mjs) at ${gitRevision(ROOT)}; ${cores} CPUs, Node ${process.version}.`,
    '',
    `- N workers: \`node dist/broker.js\` with \`node.workers = N\`, the primary and its workers pinned to cores 0..N-1; bench/loadgen (the same C generator and scenarios as \`npm run bench\`, ${duration} s window) pinned to core N, or to the last core when the machine has no core left for it ("shared" below: the generator then takes CPU from a worker).`,
    '- Broker CPU: the primary and every worker, utime+stime over the window (100% = one core). Per core-second: throughput divided by broker CPU.',
    '',
    '| Scenario | Workers | Throughput | vs 1 worker | Broker CPU | Per broker core-second | Load generator | RSS (all processes) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | --- | ---: |',
  ]
  for (const r of results) {
    if (r.error) { lines.push(`| ${SCENARIOS[r.scenario].name} | ${r.workers} | failed: ${r.error.replace(/\|/g, '\\|').slice(0, 120)} | | | | | |`); continue }
    const base = results.find((b) => b.scenario === r.scenario && b.workers === 1 && !b.error)
    const ratio = base ? `${(r.figure / base.figure).toFixed(2)}×` : 'n/a'
    const perCore = r.broker > 0 ? fmt(r.figure / (r.broker / 100)) : 'n/a'
    lines.push(`| ${SCENARIOS[r.scenario].name} | ${r.workers} | ${fmt(r.figure)} | ${ratio} | ${r.broker.toFixed(0)}% | ${perCore} | core ${r.loadgenCore}${r.shared ? ' (shared)' : ''}, ${r.loadgen.toFixed(0)}% | ${r.rssKiB ? `${(r.rssKiB / 1024).toFixed(0)} MiB` : 'n/a'} |`)
  }
  return lines.join('\n')
}

const text = report()
console.log(`\n${text}`)
if (!values['no-write']) writeBetweenMarkers(path.join(ROOT, 'BENCHMARKS.md'), '<!-- bench:workers:begin -->', '<!-- bench:workers:end -->', text)
