// Compares builds by CPU per fan-out delivery (bench/cpu/fanout-inproc.mjs), each run in turn so that
// a machine getting busier weighs on all of them alike.
//
//   node bench/cpu/compare.mjs [--turns 3] [--fanin] <checkout with dist/> <another> ...
//
// A checkout of an older commit: `git worktree add /tmp/old <commit>`, link node_modules, `npm run build` there.
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const at = args.indexOf('--turns')
const turns = at >= 0 ? Number(args.splice(at, 2)[1]) : 3
const fanin = args.includes('--fanin')
if (fanin) args.splice(args.indexOf('--fanin'), 1)
if (args.length === 0) throw new Error('usage: node bench/cpu/compare.mjs [--turns N] <checkout> ...')
const script = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fanout-inproc.mjs')
const medians = new Map(args.map((dir) => [dir, []]))
for (let t = 0; t < turns; t++) {
  for (const dir of t % 2 === 0 ? args : [...args].reverse()) {
    const out = JSON.parse(execFileSync(process.execPath, [script, dir, ...(fanin ? ['fanin', '100', '200000'] : [])], { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').at(-1))
    medians.get(dir).push(out.median)
    console.log(`${dir}: ${out.median} CPU s per ${out.subscribers * out.messages} deliveries (${out.deliveriesPerCpuSecond} per CPU second)`)
  }
}
const middle = (list) => [...list].sort((a, b) => a - b)[Math.floor(list.length / 2)]
const first = middle(medians.get(args[0]))
for (const [dir, list] of medians) console.log(`${dir}: median ${middle(list)} CPU s, ${(middle(list) / first).toFixed(3)}× ${args[0]}`)
