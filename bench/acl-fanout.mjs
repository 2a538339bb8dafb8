// Cost of per-delivery read checks (`npm run bench:acl`): QoS 0 fan-out 1 → 100 with the subscribers on the
// wildcard filter bench/+, on Culex only, under three authorization configs:
//   none        no authorization source (routing never asks)
//   deny-other  a subscribe deny rule that cannot match bench/out (one filter match per message)
//   deny-match  a subscribe deny rule under which bench/out falls, for a user nobody has: every delivery
//               is read-checked (answered from the authorization cache after the first)
// Broker pinned to core 0, bench/loadgen to core 1, as bench/run.mjs. The configs take turns for --rounds
// rounds (a shared machine drifts between runs); the console gets each config's median and its runs.
//
//   node bench/acl-fanout.mjs [--duration 4] [--rounds 3] [--entry dist/broker.js]
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { buildC, freePort, hasExited, waitUntilAccepting } from './proc.mjs'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const LOADGEN_SRC = path.join(ROOT, 'bench/loadgen.c')
const LOADGEN_BIN = path.join(ROOT, 'bench/loadgen')
const HOST = '127.0.0.1'

const CONFIGS = [
  { name: 'none', rules: null },
  { name: 'deny-other', rules: '{deny, all, subscribe, ["secret/#"]}.\n{allow, all}.' },
  { name: 'deny-match', rules: '{deny, {username, "nobody"}, subscribe, ["bench/#"]}.\n{allow, all}.' },
]

function brokerConfig (port, dataDir, rules) {
  return [
    `node.data_dir = ${JSON.stringify(dataDir)}`,
    'log.console { enable = true, level = warning }',
    `listeners.tcp.default { bind = "${HOST}:${port}" }`,
    'listeners.ws.default { enable = false }',
    'dashboard.listeners.http.enable = false',
    'mqtt { max_mqueue_len = 10000000, max_inflight = 65535 }',
    ...(rules ? [`authorization.sources = [ { type = file, rules = ${JSON.stringify(rules)} } ]`] : []),
    '',
  ].join('\n')
}

function run (command, args) {
  const child = spawn('taskset', ['-c', args.core, command, ...args.argv], { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c) => { stdout += c })
  child.stderr.on('data', (c) => { stderr += c })
  const exited = new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })))
  return { child, exited }
}

async function measure (entry, config, duration) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `culex-acl-${config.name}-`))
  try {
    const port = await freePort(HOST)
    const file = path.join(dir, 'culex.hocon')
    fs.writeFileSync(file, brokerConfig(port, path.join(dir, 'data'), config.rules))
    const broker = run(process.execPath, { core: '0', argv: [entry, '-c', file] })
    try {
      await waitUntilAccepting(broker.child, HOST, port, 10_000, () => 'the broker exited before accepting connections')
      const loadgen = run(LOADGEN_BIN, { core: '1', argv: ['--host', HOST, '--port', String(port), '--scenario', 'fanout', '--qos', '0', '--wildcard', '--duration', String(duration)] })
      const { code, stdout, stderr } = await loadgen.exited
      if (code !== 0) throw new Error(`loadgen failed: ${stderr.trim().split('\n').pop()}`)
      return JSON.parse(stdout.trim().split('\n').pop())
    } finally {
      if (!hasExited(broker.child)) broker.child.kill('SIGKILL')
      await broker.exited
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
    entry: { type: 'string', default: path.join(ROOT, 'dist/broker.js') },
  },
})
if (!fs.existsSync(values.entry)) throw new Error(`${values.entry} not found (npm run build first)`)
buildC(LOADGEN_SRC, LOADGEN_BIN)
const runs = new Map(CONFIGS.map((c) => [c.name, []]))
for (let round = 0; round < Number(values.rounds); round++) {
  for (const config of CONFIGS) {
    const figures = await measure(values.entry, config, Number(values.duration))
    if (figures.undelivered !== 0) console.warn(`${config.name}: ${figures.undelivered} messages undelivered`)
    runs.get(config.name).push(figures.delivered_per_s)
  }
}
console.log('Fan-out 1 → 100, QoS 0, subscribers on bench/+ (deliveries/s, median of the runs)')
const format = (n) => Math.round(n).toLocaleString('en-US')
for (const [name, rates] of runs) {
  const sorted = [...rates].sort((a, b) => a - b)
  console.log(`${name.padEnd(12)} ${format(sorted[Math.floor(sorted.length / 2)]).padStart(10)}   runs: ${rates.map(format).join(', ')}`)
}
