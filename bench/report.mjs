// Formatting shared by the report sections of bench/run.mjs and bench/scenarios/*.mjs: numbers,
// Markdown tables, the marks of disturbed runs, the CPU and memory table, the machine's description.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { MOSQUITTO, ROOT } from './brokers.mjs'
import { gitRevision } from './proc.mjs'

// A run is "disturbed" when, during its window, anything but broker and load
// generator used this much of the two benchmark cores, or the hypervisor stole this much.
export const INTERFERENCE_WARNING_PCT = 15
const STEAL_WARNING_PCT = 5
// Above this the load generator itself may be what limits the figure.
const LOADGEN_SATURATED_PCT = 90

export const fmtInt = (n) => Math.round(n).toLocaleString('en-US')
export const fmtPct = (n) => `${Math.round(n)}%`
export const fmtRatio = (a, b) => (a == null || b == null || b === 0 ? 'n/a' : `${(a / b).toFixed(2)}×`)
export const fmtMiB = (kib) => (kib == null ? 'n/a' : `${(kib / 1024).toFixed(1)} MiB`)

export const isDisturbed = (run) => run.ok && (run.cpu.other >= INTERFERENCE_WARNING_PCT || run.cpu.steal >= STEAL_WARNING_PCT)
const DISTURBED_NOTE = `\\* Disturbed run: during its window other processes used ≥ ${INTERFERENCE_WARNING_PCT}% or the hypervisor stole ≥ ${STEAL_WARNING_PCT}% of the two cores (see the CPU table); rerun on a quiet machine.`

// Per-handshake CPU and per-connection memory do not depend on how fast the load generator is.
export const isLoadgenBound = (run) => run.ok && !run.tls && run.cpu.loadgen >= LOADGEN_SATURATED_PCT
const LOADGEN_BOUND_NOTE = `† The load generator used ≥ ${LOADGEN_SATURATED_PCT}% of its core: the figure may be limited by it rather than by the broker.`

const isIncomplete = (run) => run.ok && run.tls && !run.tls.complete
const INCOMPLETE_NOTE = '‡ Not every connection completed its handshake and CONNACK, or not every idle connection was still held at the end (see the TLS details table).'

export const allRuns = (results) => Object.values(results.runs).flatMap(Object.values)

const failedOrSkipped = (run) => (run.skipped ? 'skipped' : 'failed')

// Each reason once, with the runs it kept from running: scenario (brokers).
function skippedNotes (results) {
  const byReason = new Map()
  for (const [scenario, runs] of Object.entries(results.runs)) {
    const skipped = Object.entries(runs).filter(([, run]) => run.skipped)
    for (const [broker, run] of skipped) {
      const scenarios = byReason.get(run.error) ?? new Map()
      scenarios.set(scenario, [...(scenarios.get(scenario) ?? []), broker])
      byReason.set(run.error, scenarios)
    }
  }
  return [...byReason].map(([reason, scenarios]) =>
    `Not run: ${[...scenarios].map(([scenario, brokers]) => `${scenario} (${brokers.join(', ')})`).join(', ')}: ${reason}.`)
}

/** The notes for the marks in the tables, for those that occur. */
export function notes (results) {
  const runs = allRuns(results)
  return [
    ...(runs.some(isDisturbed) ? [DISTURBED_NOTE] : []),
    ...(runs.some(isLoadgenBound) ? [LOADGEN_BOUND_NOTE] : []),
    ...(runs.some(isIncomplete) ? [INCOMPLETE_NOTE] : []),
    ...skippedNotes(results),
  ]
}

/** For the console: CPU of broker and load generator, and DISTURBED when the run was. */
export const describeCpu = (run) => `broker ${fmtPct(run.cpu.broker)}  loadgen ${fmtPct(run.cpu.loadgen)}`
export const describeDisturbed = (run) => (isDisturbed(run) ? `  DISTURBED (other ${fmtPct(run.cpu.other)}, steal ${fmtPct(run.cpu.steal)})` : '')

export function cell (results, scenario, broker, render) {
  if (!results.available.has(broker.name)) return 'n/a'
  const run = results.runs[scenario.name]?.[broker.name]
  if (!run) return '–'
  if (!run.ok) return failedOrSkipped(run)
  return `${render(run)}${isDisturbed(run) ? ' \\*' : ''}${isLoadgenBound(run) ? ' †' : ''}${isIncomplete(run) ? ' ‡' : ''}`
}

// The first `textColumns` columns are left-aligned, the rest hold numbers.
export function table (header, rows, textColumns = 1) {
  const line = (cells) => `| ${cells.join(' | ')} |`
  const align = header.map((_, i) => (i < textColumns ? '---' : '---:'))
  return [line(header), line(align), ...rows.map(line)].join('\n')
}

/** Every broker against Mosquitto. */
export function ratioColumns (brokers) {
  const base = brokers.find((b) => b.name === 'mosquitto')
  return base ? brokers.filter((b) => b !== base).map((b) => ({ broker: b, base })) : []
}

/** Scenario, brokers, then `${broker} / ${base}` for each ratio column. */
export const ratioHeader = (first, brokers, ratios) => [first, ...brokers.map((b) => b.label), ...ratios.map((r) => `${r.broker.label} / ${r.base.label}`)]

export function runsTable (results, brokers, scenarios) {
  const rows = []
  for (const s of scenarios) {
    for (const b of brokers) {
      const run = results.runs[s.name]?.[b.name]
      if (!run) continue
      rows.push(run.ok
        ? [s.name, b.label, fmtPct(run.cpu.broker), fmtPct(run.cpu.loadgen), fmtPct(run.cpu.other), fmtPct(run.cpu.steal), fmtMiB(run.rssKiB)]
        : [s.name, b.label, `${failedOrSkipped(run)}${run.skipped ? ' (see the notes)' : `: ${run.error.replaceAll('|', '/')}`}`, '', '', '', ''])
    }
  }
  return table(['Scenario', 'Broker', 'Broker CPU', 'Load generator CPU', 'Other CPU on both cores', 'Steal', 'Broker peak RSS'], rows, 2)
}

function commandVersion (command, args, pattern) {
  const { stdout = '', stderr = '', error } = spawnSync(command, args, { encoding: 'utf8' })
  return (!error && pattern.exec(`${stdout}${stderr}`)?.[1]) || 'unknown'
}

export function environment () {
  const cpuModel = /^model name\s*:\s*(.*)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? 'unknown CPU'
  const readVersion = (file) => JSON.parse(fs.readFileSync(path.join(ROOT, file), 'utf8')).version
  return {
    date: new Date().toISOString().replace(/:\d\d\.\d+Z$/, ' UTC').replace('T', ' '),
    cpus: os.cpus().length,
    cpuModel,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    mosquitto: commandVersion(MOSQUITTO, ['-h'], /mosquitto version (\S+)/),
    openssl: commandVersion('openssl', ['version'], /OpenSSL (\S+)/),
    aedes: readVersion('node_modules/aedes/package.json'),
    culex: `${readVersion('package.json')} (${gitRevision(ROOT)})`,
  }
}
