#!/usr/bin/env node
// npm run bench:workers: how Culex scales with node.workers on one host. For each run, a fresh
// `node dist/broker.js` (the primary and its workers) pinned to cores 0..N-1, and
// bench/loadgen pinned to core N when the machine has it, else to the last core (shared with a worker:
// the table says so). Broker CPU is the primary's and the workers' together. Results replace the text
// between the bench:workers markers of BENCHMARKS.md.
//
// First the efficiency table (CPU per delivered message at a fixed offered load, 1 worker against N, in
// turns), then throughput at saturation.
//
//   node bench/workers.mjs [--workers N] [--efficiency pairs0,pairs0c,fanin0,fanout0,pairs1,fanin1]
//     [--saturation fanin,pairs,fanout,fanin1] [--rate 20000] [--fanout-rate 200] [--rounds 2] [--duration 6] [--no-write]
//     [--storm 2000] [--checkout DIR]
//
// --checkout DIR measures the build in DIR/dist (another worktree, built) with this checkout's load
// generator, to compare two builds in turns on a shared machine; the report names DIR's revision.
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import http from 'node:http'
import os from 'node:os'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { CLOCK_TICKS, buildC, cpuPercentages, freePort, gitRevision, hasExited, processTicks, sampleCpu, statusKiB, waitUntilAccepting } from './proc.mjs'
import { writeBetweenMarkers } from './report-file.mjs'

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..')
const HOST = '127.0.0.1'
const LOADGEN = path.join(ROOT, 'bench/loadgen')
// Efficiency: a fixed offered load (--pub-rate, well below one worker's saturation), CPU per delivered
// message of every Culex process, 1 worker against N. "spread": connections as a round-robin balancer
// spreads them (pairs interleaved: each pair spans two workers); "co-located": each pair on one worker.
const EFFICIENCY = {
  pairs0: { name: '50 pairs, QoS 0, spread', args: ['--scenario', 'pairs', '--interleave', '1'], rate: 'rate', target: 0.8 },
  pairs0c: { name: '50 pairs, QoS 0, co-located', args: ['--scenario', 'pairs', '--interleave', 'N'], rate: 'rate', target: 0.95 },
  fanin0: { name: 'Fan-in 100 → 1, QoS 0, spread', args: ['--scenario', 'fanin'], rate: 'rate', target: 0.8 },
  fanout0: { name: 'Fan-out 1 → 100, QoS 0, spread', args: ['--scenario', 'fanout'], rate: 'fanout', target: 0.8 },
  pairs1: { name: '50 pairs, QoS 1, spread', args: ['--scenario', 'pairs', '--qos', '1', '--interleave', '1'], rate: 'rate', target: 0.7 },
  fanin1: { name: 'Fan-in 100 → 1, QoS 1, spread', args: ['--scenario', 'fanin', '--qos', '1'], rate: 'rate', target: 0.7 },
}
// Saturation: as fast as the --inflight window allows.
const SATURATION = {
  fanin: { name: 'Fan-in 100 → 1, QoS 0 (msg/s)', args: ['--scenario', 'fanin'], efficiency: 'fanin0' },
  pairs: { name: '50 pairs, QoS 0, spread (msg/s)', args: ['--scenario', 'pairs', '--interleave', '1'], efficiency: 'pairs0' },
  fanout: { name: 'Fan-out 1 → 100, QoS 0 (deliveries/s)', args: ['--scenario', 'fanout'], efficiency: 'fanout0' },
  fanin1: { name: 'Fan-in 100 → 1, QoS 1 (msg/s)', args: ['--scenario', 'fanin', '--qos', '1'], efficiency: 'fanin1' },
}

const { values } = parseArgs({
  options: {
    workers: { type: 'string', default: String(Math.max(2, os.availableParallelism())) },
    efficiency: { type: 'string', default: Object.keys(EFFICIENCY).join(',') },
    saturation: { type: 'string', default: Object.keys(SATURATION).join(',') },
    rate: { type: 'string', default: '20000' },
    'fanout-rate': { type: 'string', default: '200' },
    rounds: { type: 'string', default: '2' },
    duration: { type: 'string', default: '6' },
    'no-write': { type: 'boolean', default: false },
    checkout: { type: 'string', default: ROOT },
    storm: { type: 'string', default: '2000' },
  },
})
const N = Number(values.workers)
const CHECKOUT = path.resolve(values.checkout)
const pick = (list, table) => list.split(',').filter(Boolean).map((s) => {
  if (!table[s]) throw new Error(`unknown scenario ${s}: one of ${Object.keys(table).join(', ')}`)
  return s
})
const efficiency = pick(values.efficiency, EFFICIENCY)
const saturation = pick(values.saturation, SATURATION)
const rates = { rate: Number(values.rate), fanout: Number(values['fanout-rate']) }
const rounds = Number(values.rounds)
const duration = Number(values.duration)
const cores = os.availableParallelism()
const PROJECTED_CORES = 16
// Warm-up before the efficiency window. Each of N workers sees 1/N of the load, and what runs once per
// message crossing to another worker (fan-out: 200 a second) is optimised by V8 only after tens of seconds:
// with 5 s, the compiler's work and unoptimised code landed in the N workers' window (fan-out 0.66; 0.82
// after 30 s). Saturation warms up 5 s: everything runs hot there.
const WARMUP_S = 20
const SATURATION_WARMUP_S = 5
/** Unmeasured storms of --storm connections per worker before the measured one. */
const STORM_WARMUPS = 4

buildC(path.join(ROOT, 'bench/loadgen.c'), LOADGEN)

/** The primary's children (its workers). */
function children (pid) {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)
  } catch {
    return []
  }
}

const API_KEY = 'bench:bench-secret'

async function startBroker (workers, port, dir, apiPort) {
  const conf = path.join(dir, 'culex.hocon')
  fs.writeFileSync(path.join(dir, 'keys.txt'), `${API_KEY}\n`)
  fs.writeFileSync(conf, [
    `node { data_dir = "${dir}", workers = ${workers} }`,
    'log.console { enable = true, level = warning }',
    `listeners.tcp.default { bind = "${HOST}:${port}" }`,
    'listeners.ws.default { enable = false }',
    'listeners.ssl.default { enable = false }',
    'listeners.wss.default { enable = false }',
    `dashboard.listeners.http.bind = "${HOST}:${apiPort}"`,
    `api_key.bootstrap_file = "${path.join(dir, 'keys.txt')}"`,
    'mqtt { max_mqueue_len = 10000000, max_inflight = 65535 }',
  ].join('\n'))
  const brokerCores = `0-${Math.min(workers, cores) - 1}`
  const child = spawn('taskset', ['-c', brokerCores, process.execPath, path.join(CHECKOUT, 'dist/broker.js'), '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  await waitUntilAccepting(child, HOST, port, 15_000, () => `broker exited during start-up: ${stderr.slice(-500)}`)
  // Every worker listens before the primary reports ready; give the last one a moment to settle.
  const deadline = Date.now() + 10_000
  while (workers > 1 && children(child.pid).length < workers && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  await new Promise((resolve) => setTimeout(resolve, 500))
  return child
}

/**
 * For pairs: the share of pairs whose publisher and subscriber are on one worker, from the management
 * API (GET /api/v5/clients/{id}), read during set-up and warm-up.
 */
async function placement (apiPort, loadgenPid, pairs) {
  const auth = { authorization: `Basic ${Buffer.from(API_KEY).toString('base64')}` }
  // A connection of its own per request (the primary hands each to a worker in turn): a worker tells
  // the node of the clients it holds.
  const get = (id) => new Promise((resolve) => {
    const req = http.get({ host: HOST, port: apiPort, path: `/api/v5/clients/${id}`, agent: false, headers: auth }, (res) => {
      let body = ''
      res.on('data', (c) => { body += c })
      res.on('end', () => { try { resolve(JSON.parse(body).node ?? null) } catch { resolve(null) } })
    })
    req.on('error', () => resolve(null))
  })
  const nodeOf = async (id) => {
    for (let i = 0; i < 100; i++) {
      const node = await get(id)
      if (typeof node === 'string') return node
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return null
  }
  const nodes = await Promise.all(Array.from({ length: pairs }, (_, i) => Promise.all([nodeOf(`loadgen-${loadgenPid}-s${i}`), nodeOf(`loadgen-${loadgenPid}-p${i}`)])))
  return nodes.filter(([a, b]) => a !== null && a === b).length / pairs
}

function runLoadgen (scenarioArgs, port, pids, loadgenCore, apiPort, warmup) {
  return new Promise((resolve, reject) => {
    const args = ['-c', String(loadgenCore), LOADGEN, '--host', HOST, '--port', String(port), '--duration', String(duration), '--warmup', String(warmup), '--setup-timeout', '60', '--sequential', ...scenarioArgs]
    const gen = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] })
    const placed = scenarioArgs.includes('pairs') ? placement(apiPort, gen.pid, 50) : Promise.resolve(null)
    let out = ''
    let begin = null
    let end = null
    const sample = () => {
      const all = pids()
      return { ...sampleCpu(all, gen.pid, [...Array(cores).keys()]), primary: all.length > 1 ? processTicks(all[0]) : 0 }
    }
    let marks = ''
    gen.stdout.on('data', (d) => { out += d })
    // The generator marks its measuring window on stderr.
    gen.stderr.on('data', (d) => {
      marks += d
      if (!begin && marks.includes('window-begin')) begin = sample()
      if (!end && marks.includes('window-end')) end = sample()
    })
    const timer = setTimeout(() => gen.kill('SIGKILL'), (duration + warmup + 60) * 1000)
    gen.on('exit', (code) => {
      clearTimeout(timer)
      if (code !== 0 || !begin || !end) return reject(new Error(`loadgen failed (${code}): ${out.slice(-300)}`))
      placed.then((colocated) => resolve({ figures: JSON.parse(out.trim().split('\n').pop()), ...cpuPercentages(begin, end), ticks: end.broker - begin.broker, primaryTicks: end.primary - begin.primary, colocated }), reject)
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

/** A fresh broker with that many workers in a directory of its own, for `use`; stopped and removed after. */
async function withBroker (workers, use) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-workers-'))
  const port = await freePort(HOST)
  const apiPort = await freePort(HOST, port)
  const loadgenCore = Math.min(workers, cores - 1)
  let child
  try {
    child = await startBroker(workers, port, dir, apiPort)
    return await use({ child, port, apiPort, loadgenCore })
  } finally {
    if (child) await stop(child)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** One run: a fresh broker with that many workers, the load generator with those arguments. */
function measure (workers, args, warmup = WARMUP_S) {
  return withBroker(workers, async ({ child, port, apiPort, loadgenCore }) => {
    const pids = () => [child.pid, ...children(child.pid)]
    const run = await runLoadgen(args, port, pids, loadgenCore, apiPort, warmup)
    const rssKiB = statusKiB(pids(), 'VmRSS')
    const delivered = run.figures.delivered_per_s * run.figures.duration_s
    return { ...run, rssKiB, loadgenCore, shared: workers >= cores, delivered, usPerMsg: delivered > 0 ? (run.ticks / CLOCK_TICKS) * 1e6 / delivered : NaN }
  })
}

/** Sockets a process holds (its open files that are sockets). */
function socketCount (pid) {
  try {
    return fs.readdirSync(`/proc/${pid}/fd`).filter((fd) => {
      try { return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith('socket:') } catch { return false }
    }).length
  } catch {
    return 0
  }
}

/** bench/storm-gen.mjs, pinned to `core`; `allIn` runs once every connection has its CONNACK (all still open). */
function runStormGen (core, port, connections, allIn) {
  return new Promise((resolve, reject) => {
    const gen = spawn('taskset', ['-c', String(core), process.execPath, path.join(ROOT, 'bench/storm-gen.mjs'), '--host', HOST, '--port', String(port), '--connections', String(connections), '--parallel', '100', '--hold', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let called = false
    gen.stdout.on('data', (d) => { out += d })
    gen.stderr.on('data', (d) => {
      if (called || !String(d).includes('storm-done')) return
      called = true
      allIn()
    })
    gen.on('exit', (code) => {
      try {
        const result = JSON.parse(out.trim().split('\n').pop())
        if (code !== 0 || result.error) return reject(new Error(result.error ?? `storm-gen exited with ${code}`))
        resolve(result)
      } catch (err) {
        reject(err)
      }
    })
  })
}

/**
 * A connection storm on a fresh broker with that many workers: bench/storm-gen.mjs (pinned as the load
 * generator is) opens --storm connections, 100 connecting at once; each worker's share is counted from the
 * sockets it holds while they are all open.
 */
function storm (workers) {
  return withBroker(workers, async ({ child, port, loadgenCore }) => {
    // Storms first that are not measured, so that the code a connection runs is optimised as on a broker
    // that has been up a while (a reconnect storm comes after a network outage, not at start-up). Each
    // worker sees 1/N of them, so N workers get N times as many: with one storm of half the size for any N,
    // 2 workers measured 485 µs per connection, and 270 µs after eight (1 worker: 95 → 90).
    for (let i = 0; i < STORM_WARMUPS * workers; i++) {
      await runStormGen(loadgenCore, port, Number(values.storm), () => {})
      await new Promise((resolve) => setTimeout(resolve, 300))
    }
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const holders = workers > 1 ? children(child.pid) : [child.pid]
    const before = holders.map(socketCount)
    const all = [child.pid, ...(workers > 1 ? holders : [])]
    const ticks = () => all.map(processTicks)
    const ticksBefore = ticks()
    let counts = null
    let used = null
    const result = await runStormGen(loadgenCore, port, Number(values.storm), () => {
      used = ticks().map((n, i) => n - ticksBefore[i])
      counts = holders.map((pid, i) => socketCount(pid) - before[i])
    })
    const total = used ? used.reduce((a, b) => a + b, 0) : NaN
    const cpuUs = total / CLOCK_TICKS * 1e6 / Math.max(1, result.connected)
    return { ...result, counts, cpuUs, primaryShare: used && workers > 1 ? used[0] / Math.max(1, total) : 0, loadgenCore, shared: workers >= cores }
  })
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}
const load = () => fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')
const loads = [load()]

// Efficiency: 1 worker and N in turns, `rounds` times, so that both see the same machine.
const eff = []
for (const key of efficiency) {
  const s = EFFICIENCY[key]
  const rate = rates[s.rate]
  // --interleave N: blocks of N subscribers then their N publishers, so each pair lands on one worker.
  const args = [...s.args.map((a) => a === 'N' ? String(N) : a), '--pub-rate', String(rate)]
  const runs = { 1: [], [N]: [] }
  let error = null
  for (let round = 0; round < rounds && !error; round++) {
    for (const workers of [1, N]) {
      try {
        const r = await measure(workers, args)
        runs[workers].push(r)
        const placed = r.colocated === null ? '' : `  pairs on one worker ${(100 * r.colocated).toFixed(0)}%`
        console.log(`${key.padEnd(8)} workers ${workers}: ${r.usPerMsg.toFixed(2)} µs CPU/msg  delivered ${Math.round(r.figures.delivered_per_s).toLocaleString('en-US')}/s  primary ${(100 * r.primaryTicks / Math.max(1, r.ticks)).toFixed(0)}% of it  skipped ${r.figures.rate_skipped ?? 0}${placed}  (load ${load()})`)
      } catch (err) {
        error = err.message
        console.log(`${key} workers ${workers}: ${err.message}`)
        break
      }
    }
  }
  loads.push(load())
  eff.push({ key, ...s, rate, runs, error })
}

// Connection storm: 1 worker and N, once each.
const storms = {}
if (Number(values.storm) > 0) {
  for (const workers of [1, N]) {
    try {
      storms[workers] = await storm(workers)
      const r = storms[workers]
      console.log(`storm workers ${workers}: ${Math.round(r.per_s).toLocaleString('en-US')} connections/s  ${r.cpuUs.toFixed(0)} µs CPU each (primary ${(100 * r.primaryShare).toFixed(0)}%)  CONNACK p50 ${r.p50_ms.toFixed(1)} ms  p99 ${r.p99_ms.toFixed(1)} ms  max ${r.max_ms.toFixed(1)} ms  per worker ${r.counts?.join(' / ')}`)
    } catch (err) {
      storms[workers] = { error: err.message }
      console.log(`storm workers ${workers}: ${err.message}`)
    }
  }
}

// Saturation: 1 worker and N, once each.
const sat = []
for (const key of saturation) {
  const row = { key, ...SATURATION[key] }
  for (const workers of [1, N]) {
    try {
      row[workers] = await measure(workers, SATURATION[key].args, SATURATION_WARMUP_S)
      console.log(`${key.padEnd(8)} saturation, workers ${workers}: ${Math.round(row[workers].figures.delivered_per_s).toLocaleString('en-US')}/s  broker CPU ${row[workers].broker.toFixed(0)}%`)
    } catch (err) {
      row.error = err.message
      console.log(`${key} saturation, workers ${workers}: ${err.message}`)
    }
  }
  sat.push(row)
}
loads.push(load())

function report () {
  const fmt = (n) => Math.round(n).toLocaleString('en-US')
  const lines = [
    '## Scaling with node.workers',
    '',
    `Generated ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`npm run bench:workers\` (bench/workers.mjs) at ${gitRevision(CHECKOUT)}; ${cores} CPUs, Node ${process.version}; load average (1, 5, 15 min) from ${loads[0]} at the start to ${loads.at(-1)} at the end (the machine is shared: CPU per message is what is compared, not throughput).`,
    '',
    `- Each run: \`node dist/broker.js\` with \`node.workers = N\` (1 or ${N}), the primary and its workers pinned to cores 0..N-1, bench/loadgen pinned to core N, or to the last core when the machine has none left for it ("shared").`,
    `- Efficiency: a fixed offered load (\`--pub-rate\`: ${fmt(rates.rate)} publishes/s; fan-out ${fmt(rates.fanout)} publishes/s, i.e. ${fmt(rates.fanout * 100)} deliveries/s), ${WARMUP_S} s warm-up, ${duration} s window. CPU per message: utime+stime of every Culex process (primary and workers, /proc) over the window, divided by the messages delivered in it. Efficiency = CPU per message with 1 worker ÷ with ${N}. 1 worker and ${N} are run in turns, ${rounds} times each; the table gives the medians. "Primary": its share of the CPU with ${N} workers (it holds their cluster store, and relays what crosses between workers only while their direct connection comes up). "Skipped": publishes the generator's window refused (the offered load was not met). An efficiency above 1 is this machine's, not a gain from the workers: with ${N} workers the last shares its core with the generator, and a process that waits for its core reads more messages per wake-up; messages crossing to another worker also travel in batches (the bus waits up to 1 ms for more under steady traffic).`,
    '- Placement: the generator opens its connections one after the other (`--sequential`), each once the previous has its CONNACK, and the primary hands them to the workers in turn. Spread: pairs opened subscriber, publisher, subscriber, ... (`--interleave 1`), each pair on two workers; fan-in and fan-out have publishers and subscribers on every worker. Co-located: pairs opened N subscribers, then their N publishers, ... (`--interleave N`), each pair on one worker. "Pairs on one worker" is read from the management API (`GET /api/v5/clients/{id}`, during set-up and warm-up) with N workers.',
    '',
    `| Scenario | CPU/msg, 1 worker | CPU/msg, ${N} workers | Efficiency | Target | Primary | Pairs on one worker | Delivered/s (1 / ${N}) | Skipped (1 / ${N}) |`,
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ]
  const efficiencyOf = {}
  for (const e of eff) {
    const one = e.runs[1]
    const many = e.runs[N]
    if (e.error || one.length === 0 || many.length === 0) { lines.push(`| ${e.name} | failed: ${String(e.error).replace(/\|/g, '\\|').slice(0, 100)} | | | | | | | |`); continue }
    const a = median(one.map((r) => r.usPerMsg))
    const b = median(many.map((r) => r.usPerMsg))
    efficiencyOf[e.key] = a / b
    const primary = median(many.map((r) => 100 * r.primaryTicks / Math.max(1, r.ticks)))
    const skipped = (runs) => fmt(runs.reduce((n, r) => n + (r.figures.rate_skipped ?? 0), 0))
    const placed = many[0].colocated === null ? '' : `${(100 * median(many.map((r) => r.colocated))).toFixed(0)}%`
    lines.push(`| ${e.name} | ${a.toFixed(2)} µs | ${b.toFixed(2)} µs | ${(a / b).toFixed(2)} | ≥ ${e.target} | ${primary.toFixed(0)}% | ${placed} | ${fmt(median(one.map((r) => r.figures.delivered_per_s)))} / ${fmt(median(many.map((r) => r.figures.delivered_per_s)))} | ${skipped(one)} / ${skipped(many)} |`)
  }
  lines.push('', `Saturation (as fast as the generator's window allows, ${SATURATION_WARMUP_S} s warm-up, ${duration} s window), and the projection for a host of ${PROJECTED_CORES} cores:`, '',
    `| Scenario | 1 worker | ${N} workers | Broker CPU (1 / ${N}) | Load generator | RSS, ${N} workers (all processes) | Projected, ${PROJECTED_CORES} cores |`,
    '| --- | ---: | ---: | ---: | --- | ---: | ---: |')
  for (const r of sat) {
    if (!r[1] || !r[N]) { lines.push(`| ${r.name} | failed: ${String(r.error).replace(/\|/g, '\\|').slice(0, 100)} | | | | | |`); continue }
    const e = efficiencyOf[r.efficiency]
    const projected = e === undefined ? 'n/a' : `${fmt(e * PROJECTED_CORES * r[1].figures.delivered_per_s)} (${e.toFixed(2)} × ${PROJECTED_CORES} × ${fmt(r[1].figures.delivered_per_s)})`
    lines.push(`| ${r.name} | ${fmt(r[1].figures.delivered_per_s)} | ${fmt(r[N].figures.delivered_per_s)} | ${r[1].broker.toFixed(0)}% / ${r[N].broker.toFixed(0)}% | core ${r[N].loadgenCore}${r[N].shared ? ' (shared)' : ''}, ${r[N].loadgen.toFixed(0)}% | ${r[N].rssKiB ? `${(r[N].rssKiB / 1024).toFixed(0)} MiB` : 'n/a'} | ${projected} |`)
  }
  if (Object.keys(storms).length) {
    lines.push('', `Connection storm: ${fmt(Number(values.storm))} plain TCP connections (MQTT 3.1.1 CONNECT, clean session), 100 connecting at once, after ${STORM_WARMUPS} storms as large per worker (not measured, each closed again before the next) have warmed the broker up (bench/storm-gen.mjs, pinned as the load generator), each timed from connect() to its CONNACK and held until all are in; "Per worker" counts the sockets each worker holds then. The primary hands a connection only to a worker that has taken the one before (Node's round-robin), so a worker that is behind gets fewer.`, '',
      '| Workers | Connections/s | Broker CPU per connection (primary) | CONNACK p50 | p99 | max | Per worker | Load generator |', '| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |')
    for (const workers of [1, N]) {
      const r = storms[workers]
      if (!r) continue
      if (r.error) { lines.push(`| ${workers} | failed: ${String(r.error).replace(/\|/g, '\\|').slice(0, 100)} | | | | | | |`); continue }
      lines.push(`| ${workers} | ${fmt(r.per_s)} | ${fmt(r.cpuUs)} µs${workers > 1 ? ` (${(100 * r.primaryShare).toFixed(0)}%)` : ''} | ${r.p50_ms.toFixed(1)} ms | ${r.p99_ms.toFixed(1)} ms | ${r.max_ms.toFixed(1)} ms | ${r.counts ? r.counts.map(fmt).join(' / ') : 'n/a'} | core ${r.loadgenCore}${r.shared ? ' (shared)' : ''} |`)
    }
  }
  lines.push('', `Projection: the efficiency of the same scenario (first table) × ${PROJECTED_CORES} × the 1-worker saturation throughput, measured with the generator on a core of its own. It assumes that the CPU per message measured with ${N} workers holds with ${PROJECTED_CORES} (in the spread rows every message already crosses to another worker, as nearly all would with ${PROJECTED_CORES}; what ${N} workers do not show is each worker's growing share of route-table updates and of cluster-store traffic as workers are added), that the network, the kernel's socket work and the sources of the load scale with the cores, and that the host's cores are as fast as this machine's. The ${N}-worker saturation column cannot show it on this ${cores}-core machine: the generator shares a core with a worker.`)
  return lines.join('\n')
}

const text = report()
console.log(`\n${text}`)
if (!values['no-write']) writeBetweenMarkers(path.join(ROOT, 'BENCHMARKS.md'), '<!-- bench:workers:begin -->', '<!-- bench:workers:end -->', text)
