// Start-up: milliseconds from spawn until the MQTT port accepts TCP connections, with bench/startup.mjs.
// Unlike the other groups it runs once for all brokers (`together`), their runs alternating.
import fs from 'node:fs'
import path from 'node:path'
import { BROKER_CORE, CULEX_ENTRY, HOST, prepareAedes, prepareMosquitto } from '../brokers.mjs'
import { fmtInt, fmtRatio, table } from '../report.mjs'
import { STARTUP_RUNS, culexDefaultConfig, culexPrepare, culexTcpConfig, makeCulexCertificates, measureStartups, summarize } from '../startup.mjs'

export const scenarios = [
  { name: 'startup', label: 'Start-up: spawn until the MQTT port accepts TCP connections', unit: 'ms', startup: true },
]

export const together = true

// Culex twice (TCP listener only; the listeners and API of etc/base.hocon), Mosquitto and aedes as in the
// other scenarios; their runs alternate so that a noisy spell hits all of them alike.
function startupCandidates (brokers, scratchDir) {
  const certDir = () => {
    const dir = path.join(scratchDir(), 'startup')
    if (!fs.existsSync(dir)) makeCulexCertificates(CULEX_ENTRY, dir)
    return dir
  }
  const byBroker = {
    culex: [
      { name: 'culex-tcp', label: 'Culex, TCP listener only', prepare: culexPrepare(CULEX_ENTRY, culexTcpConfig) },
      { name: 'culex-default', label: 'Culex, etc/base.hocon listeners', prepare: culexPrepare(CULEX_ENTRY, (port, dir) => culexDefaultConfig(port, dir, certDir())) },
    ],
    mosquitto: [{ name: 'mosquitto', label: 'Mosquitto', prepare: prepareMosquitto }],
    aedes: [{ name: 'aedes', label: 'aedes', prepare: prepareAedes }],
  }
  return brokers.flatMap((b) => byBroker[b.name] ?? [])
}

/** Rows { name, label, median, min, max, runs } or { name, label, error }, one per candidate. */
export async function run (_scenario, brokers, options) {
  const candidates = startupCandidates(brokers, options.scratchDir)
  const measured = await measureStartups(candidates, { runs: STARTUP_RUNS, core: BROKER_CORE })
  return candidates.map((c) => {
    const result = measured.get(c.name)
    return { ...c, ...(result.error ? { error: result.error } : summarize(result.times)) }
  })
}

export function describe (_scenario, row) {
  return row.error ? `FAILED: ${row.error}` : `median ${fmtInt(row.median)} ms  min ${fmtInt(row.min)}  max ${fmtInt(row.max)}  (${row.runs} runs)`
}

// ---------- report ----------

export const method = (options) => (options.scenarios.some((s) => s.startup)
  ? [`- Start-up: each broker is spawned ${STARTUP_RUNS} times pinned to core ${BROKER_CORE}, with a fresh port and directory each time, the brokers' runs alternating; figure: milliseconds from spawn until a TCP connect to its MQTT port succeeds (tried every 2 ms; Culex opens the TCP listener before its other listeners and the API), median, min and max. Culex TCP only: \`${culexTcpConfig('<port>', '<tmpdir>').trim().split('\n').join('`, `')}\`. Culex etc/base.hocon listeners: \`include "etc/base.hocon"\` with the tcp, ssl, ws and wss listeners and the management API moved to free ports on ${HOST} and certificates made by \`culex certs init\`. Mosquitto and aedes as configured below.`]
  : [])

export function startupTable (rows) {
  const base = rows.find((r) => r.name === 'mosquitto' && !r.error)
  const ms = (r, key) => (r.error ? 'failed' : fmtInt(r[key]))
  return table(['Broker', 'Median (ms)', 'Min (ms)', 'Max (ms)', '/ Mosquitto'],
    rows.map((r) => [r.label, ms(r, 'median'), ms(r, 'min'), ms(r, 'max'), r.error ? 'n/a' : fmtRatio(r.median, base?.median)]))
}
