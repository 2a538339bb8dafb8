// Compares builds (and Mosquitto) by broker CPU at light load (bench/scenarios/light.mjs): per message,
// per connection, per second of keep-alives. The builds run in turns, the order reversed every turn,
// so that a machine getting busier weighs on all of them alike; the figure of each is its median.
//
//   node bench/cpu/light-compare.mjs [--turns 5] [--scenarios light-1k,light-churn] [--duration 5]
//                                    [--mosquitto] [--max-other 20] [--cpu-prof DIR] <checkout with dist/> <another> ...
//
// --max-other P: a run during which other processes took more than P% of a core (the machine is shared) is
// run again, up to 4 times, and the last try counts: at a few hundred connections a second the per-second
// costs weigh on every connection, so a busy neighbour inflates the figure several times over.
// --cpu-prof DIR: every Culex broker writes a V8 CPU profile into DIR/<checkout name>/ when it stops.
import fs from 'node:fs'
import path from 'node:path'
import { parseArgs } from 'node:util'
import { BROKERS, culexConfig } from '../brokers.mjs'
import { killAllChildren } from '../proc.mjs'
import * as light from '../scenarios/light.mjs'

const { values: opt, positionals: checkouts } = parseArgs({
  allowPositionals: true,
  options: {
    turns: { type: 'string', default: '5' },
    scenarios: { type: 'string', default: 'light-1k,light-churn' },
    duration: { type: 'string', default: '5' },
    mosquitto: { type: 'boolean', default: false },
    'max-other': { type: 'string' },
    'cpu-prof': { type: 'string' },
  },
})
if (checkouts.length === 0) throw new Error('usage: node bench/cpu/light-compare.mjs [--turns N] [--scenarios a,b] [--mosquitto] <checkout> ...')

function culexAt (checkout) {
  const dir = path.resolve(checkout)
  const entry = path.join(dir, 'dist/broker.js')
  if (!fs.existsSync(entry)) throw new Error(`${entry} not found (not built?)`)
  const profDir = opt['cpu-prof'] ? path.resolve(opt['cpu-prof'], path.basename(dir)) : null
  const prof = profDir ? ['--cpu-prof', '--cpu-prof-dir', profDir] : []
  return {
    name: dir,
    label: dir,
    prepare (port, dataDir, tlsListener) {
      const config = path.join(dataDir, 'culex.hocon')
      fs.writeFileSync(config, culexConfig(port, dataDir, tlsListener))
      return { command: process.execPath, args: [...prof, entry, '-c', config] }
    },
  }
}

const brokers = [...checkouts.map((c, i) => ({ ...culexAt(c), name: `culex${i}` })), ...(opt.mosquitto ? [BROKERS.find((b) => b.name === 'mosquitto')] : [])]
const names = opt.scenarios.split(',')
const scenarios = light.scenarios.filter((s) => names.includes(s.name))
if (scenarios.length !== names.length) throw new Error(`--scenarios: known are ${light.scenarios.map((s) => s.name).join(', ')}`)
const options = { duration: Number(opt.duration), scenarios, scratchDir: () => fs.mkdtempSync('/tmp/light-compare-') }
light.setUp(options)
process.on('exit', killAllChildren)

const figures = new Map(scenarios.map((s) => [s.name, new Map(brokers.map((b) => [b.name, []]))]))
const turns = Number(opt.turns)
const maxOther = opt['max-other'] === undefined ? Infinity : Number(opt['max-other'])
for (let t = 0; t < turns; t++) {
  for (const scenario of scenarios) {
    for (const broker of t % 2 === 0 ? brokers : [...brokers].reverse()) {
      let run = await light.run(scenario, broker, options)
      for (let retry = 1; run.ok && run.cpu.other > maxOther && retry < 5; retry++) {
        console.log(`${scenario.name} ${broker.label}: other processes took ${Math.round(run.cpu.other)}% of a core (over --max-other ${maxOther}%): run again`)
        run = await light.run(scenario, broker, options)
      }
      if (!run.ok) { console.log(`${scenario.name} ${broker.label}: FAILED ${run.error}`); continue }
      figures.get(scenario.name).get(broker.name).push(light.cpuMicros(scenario, run))
      console.log(`${scenario.name} ${broker.label}: ${light.describe(scenario, run)}  other ${Math.round(run.cpu.other)}%`)
    }
  }
}
const middle = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]
for (const scenario of scenarios) {
  const first = middle(figures.get(scenario.name).get(brokers[0].name))
  for (const broker of brokers) {
    const list = figures.get(scenario.name).get(broker.name)
    const m = middle(list)
    console.log(`${scenario.name} ${broker.label}: median ${m?.toFixed(1)} (${list.map((x) => x.toFixed(1)).join(', ')}), ${(m / first).toFixed(3)}× ${brokers[0].label}`)
  }
}
