// TLS, run by bench/tls-storm against each broker's TLS listener (and the Node TLS floor's):
// broker CPU per TLS 1.3 handshake in a handshake storm, and broker memory per idle TLS connection.
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { CULEX_ENTRY, HOST, LOADGEN_CORE, ROOT, runGenerator, runOnFreshBroker } from '../brokers.mjs'
import { CLOCK_TICKS, buildC, ephemeralPortCount, hardFileLimit, raiseFileLimit, sourceAddressCount } from '../proc.mjs'
import { cell, describeCpu, describeDisturbed, fmtInt, fmtMiB, fmtRatio, ratioColumns, ratioHeader, table } from '../report.mjs'

const TLS_STORM_SRC = path.join(ROOT, 'bench/tls-storm.c')
const TLS_STORM_BIN = path.join(ROOT, 'bench/tls-storm')
// TLS handshake storm: after a warm-up, start connections for this long or until this many were started. The
// warm-up is long enough for V8 to have compiled the connection path, Culex's and the Node TLS floor's: after
// 1,000 (`--trace-opt`), 97 functions of Culex and 69 of the floor were still optimized during the window, and
// both cost 10 to 20% more per handshake than after 5,000, when about ten of each were.
const TLS_STORM = { parallel: 32, warmup: 5000, connections: 3000, durationS: 3 }
// Idle TLS connections: at most this many handshakes in flight while opening, then this long idle.
// Mosquitto listens with a backlog of 100; more in flight only overflows it (the load generator,
// at about 1 ms of CPU per handshake, limits the opening rate anyway).
const TLS_IDLE = { parallel: 100, idleS: 2 }
// bench/tls-storm gives up on connections still unfinished after this long; opening idle connections may
// take a second per IDLE_OPENED_PER_S of them (about 800/s on a quiet machine, 300/s with the cores shared).
const TLS_TIMEOUT_S = 25
const IDLE_OPENED_PER_S = 150
// Open files besides one per held connection: bench/tls-storm's (as SPARE_FDS in bench/tls-storm.c), a broker's.
const GENERATOR_SPARE_FILES = 64
const BROKER_SPARE_FILES = 100
const FLOOR = 'node-tls-floor'

function tlsHandshake (name, label, key) {
  const { parallel, warmup, connections, durationS } = TLS_STORM
  return {
    name, label, unit: 'µs', tls: { key, mode: 'storm', timeoutS: TLS_TIMEOUT_S },
    args: ['--mode', 'storm', '--parallel', String(parallel), '--warmup', String(warmup), '--connections', String(connections), '--duration', String(durationS)],
  }
}

function tlsIdle (name, label, connections) {
  return {
    name, label, unit: 'KiB', tls: { key: 'ec256', mode: 'idle', connections, timeoutS: Math.max(TLS_TIMEOUT_S, connections / IDLE_OPENED_PER_S) },
    args: ['--mode', 'idle', '--parallel', String(TLS_IDLE.parallel), '--connections', String(connections), '--idle', String(TLS_IDLE.idleS)],
  }
}

export const scenarios = [
  tlsHandshake('tls-handshake-ec', 'Broker CPU per TLS 1.3 handshake, ECDSA P-256 certificate', 'ec256'),
  tlsHandshake('tls-handshake-rsa', 'Broker CPU per TLS 1.3 handshake, RSA 2048 certificate', 'rsa2048'),
  tlsIdle('tls-idle-1k', 'Memory per idle TLS connection, 1,000 connections', 1000),
  tlsIdle('tls-idle-10k', 'Memory per idle TLS connection, 10,000 connections', 10_000),
  tlsIdle('tls-idle-50k', 'Memory per idle TLS connection, 50,000 connections', 50_000),
]

export const isTls = (scenario) => scenario.tls !== undefined

// Builds bench/tls-storm and one set of certificates per key type (made by `culex certs init`).
// Returns a map key type -> certificate directory, or throws with the reason.
function prepareTls (scenarios, dir) {
  if (!fs.existsSync('/usr/include/openssl/ssl.h')) throw new Error('bench/tls-storm.c needs the OpenSSL headers (Debian: libssl-dev)')
  buildC(TLS_STORM_SRC, TLS_STORM_BIN, ['-lssl', '-lcrypto'])
  if (!fs.existsSync(CULEX_ENTRY)) throw new Error('dist/broker.js not found: the certificates are made by `culex certs init` (npm run build)')
  const certDirs = new Map()
  for (const key of new Set(scenarios.map((s) => s.tls.key))) certDirs.set(key, makeCerts(dir, key))
  return certDirs
}

/** dir/<name>: a CA, a server certificate (key type `key`) for localhost and 127.0.0.1 and a client certificate, by `culex certs init`. */
export function makeCerts (dir, key, name = key) {
  const certDir = path.join(dir, name)
  execFileSync(process.execPath, [CULEX_ENTRY, 'certs', 'init', '--dir', certDir, '--key', key], { stdio: 'ignore' })
  // Mosquitto started as root drops to user mosquitto before it reads them.
  fs.chmodSync(dir, 0o755)
  fs.chmodSync(certDir, 0o755)
  for (const file of fs.readdirSync(certDir)) fs.chmodSync(path.join(certDir, file), 0o644)
  return certDir
}

// Without OpenSSL headers or certificates the TLS scenarios are left out, with the reason in the report.
export function setUp (options) {
  if (!options.scenarios.some(isTls)) return
  try {
    options.certDirs = prepareTls(options.scenarios.filter(isTls), options.scratchDir())
  } catch (error) {
    options.tlsSkipped = error.message
    options.scenarios = options.scenarios.filter((s) => !isTls(s))
    console.warn(`warning: TLS scenarios not run: ${error.message}`)
  }
}

export const runsOn = (broker) => !broker.lightOnly
export async function run (scenario, broker, options) {
  const fits = fittingConnections(scenario, broker)
  if (fits !== null) scenario = fits
  const tooFew = tooFewFiles(scenario, broker)
  if (tooFew) return { ok: false, skipped: true, brokerStarted: false, error: tooFew }
  return runOnFreshBroker(broker, options.certDirs.get(scenario.tls.key), ({ tls, pid }) => {
    for (const p of [pid].flat()) raiseFileLimit(p, (scenario.tls.connections ?? TLS_STORM.parallel) + BROKER_SPARE_FILES, 'the broker')
    return runTlsStorm(scenario, tls, pid)
  })
}

// At most this share of an idle scenario's connections may be left out so that a broker fits the file limit
// (HAProxy needs two files per connection: under a hard limit of 20,000 it holds 9,900 of 10,000). The figure
// is per connection held, and the details table says how many were.
const FIT_SHARE = 0.9

/** The idle scenario with fewer connections when that lets this broker fit the hard file limit, or null. */
function fittingConnections (scenario, broker) {
  if (scenario.tls.mode !== 'idle' || tooFewFiles(scenario, broker) === null) return null
  const wanted = scenario.tls.connections
  for (let n = wanted - 100; n >= wanted * FIT_SHARE; n -= 100) {
    const fewer = withConnections(scenario, n)
    if (tooFewFiles(fewer, broker) === null) return fewer
  }
  return null
}

function withConnections (scenario, n) {
  const args = [...scenario.args]
  args[args.indexOf('--connections') + 1] = String(n)
  return { ...scenario, args, tls: { ...scenario.tls, connections: n, wanted: scenario.tls.wanted ?? scenario.tls.connections } }
}

// Every idle connection is an open file in bench/tls-storm and in the broker (two in HAProxy: broker.openFiles),
// both limited by the hard limit they inherit from this process. Why a run cannot hold them all, or null.
function tooFewFiles (scenario, broker) {
  if (scenario.tls.mode !== 'idle') return null
  const n = scenario.tls.connections
  const hard = hardFileLimit()
  const needs = [
    { who: 'bench/tls-storm', files: n + GENERATOR_SPARE_FILES },
    { who: broker.openFilesWho ?? broker.label, files: broker.openFiles?.(n) ?? n + BROKER_SPARE_FILES },
  ]
  const short = needs.find((need) => need.files > hard)
  return short
    ? `${fmtInt(n)} connections need ${fmtInt(short.files)} open files in ${short.who}, above this machine's hard limit of ${fmtInt(hard)} (\`ulimit -Hn\`); raise it (as root with CAP_SYS_RESOURCE: /etc/security/limits.conf, systemd LimitNOFILE=, \`docker run --ulimit nofile=N:N\`)`
    : null
}

async function runTlsStorm (scenario, tls, brokerPid) {
  const { timeoutS } = scenario.tls
  const args = ['--host', HOST, '--port', String(tls.port), '--ca', path.join(tls.certDir, 'ca.pem'), '--timeout', String(timeoutS), ...scenario.args]
  const result = await runGenerator(TLS_STORM_BIN, args, brokerPid, (timeoutS * 2 + TLS_STORM.durationS + TLS_IDLE.idleS + 10) * 1000)
  return { ...result, tls: tlsFigures(scenario, result.figures, result.samples) }
}

// Per-handshake CPU (storm) or per-connection memory (idle) from the window's samples.
function tlsFigures (scenario, figures, { begin, end }) {
  const cpuUs = (ticks, count) => (count > 0 ? (ticks / CLOCK_TICKS) * 1e6 / count : null)
  if (scenario.tls.mode === 'storm') {
    return {
      brokerUs: cpuUs(end.broker - begin.broker, figures.completed),
      clientUs: cpuUs(end.loadgen - begin.loadgen, figures.completed),
      complete: figures.failed === 0 && figures.unfinished === 0,
    }
  }
  const { brokerRssKiB: before } = begin
  const { brokerRssKiB: after } = end
  return {
    rssBeforeKiB: before,
    rssAfterKiB: after,
    kibPerConnection: figures.held > 0 && before != null && after != null ? (after - before) / figures.held : null,
    complete: figures.held === scenario.tls.connections,
    connections: scenario.tls.connections,
    ...(scenario.tls.wanted ? { wanted: scenario.tls.wanted } : {}),
  }
}

// bench/tls-storm binds its sockets to several 127.0.0.x when one address has too few ephemeral ports.
const fitted = (figures) => (figures.wanted ? ` (${fmtInt(figures.wanted)} wanted: the file limit)` : '')
const fromSources = (figures) => (figures.sources > 1 ? ` from ${figures.sources} addresses` : '')
const fmtUs = (us) => (us == null ? 'n/a' : fmtInt(us))
const fmtKiB = (kib) => (kib == null ? 'n/a' : kib.toFixed(1))

export function describe (scenario, run) {
  const f = run.figures
  const t = run.tls
  const main = scenario.tls.mode === 'storm'
    ? `${fmtUs(t.brokerUs)} µs broker CPU/handshake  ${fmtInt(f.completed)} handshakes (${fmtInt(f.per_s)}/s)  client ${fmtUs(t.clientUs)} µs/handshake` +
      (t.complete ? '' : `  INCOMPLETE (failed ${f.failed}, unfinished ${f.unfinished}: ${f.error})`)
    : `${fmtKiB(t.kibPerConnection)} KiB/connection  held ${fmtInt(f.held)} of ${fmtInt(t.connections ?? scenario.tls.connections)}${fitted(t)}${fromSources(f)}  rss ${fmtMiB(t.rssBeforeKiB)} → ${fmtMiB(t.rssAfterKiB)}  opened in ${f.open_s.toFixed(1)} s` +
      (t.complete ? '' : `  INCOMPLETE (started ${f.started}, failed ${f.failed}, dropped ${f.dropped}, unfinished ${f.unfinished}: ${f.error})`)
  return `${main}  ${describeCpu(run)}${describeDisturbed(run)}`
}

// ---------- report ----------

export function method (env, options) {
  if (!options.scenarios.some(isTls)) return []
  const { parallel, warmup, connections, durationS } = TLS_STORM
  return [
    `- TLS: bench/tls-storm.c (one thread, epoll, OpenSSL ${env.openssl}) pinned to core ${LOADGEN_CORE}, TLS 1.3 only, a full handshake per connection (no session resumption), server certificate verified against the CA; certificates made by \`culex certs init --key ec256|rsa2048\`. Every connection sends an MQTT 3.1.1 CONNECT (clean session, keepalive 0) and waits for its CONNACK.`,
    `- TLS handshake: after ${warmup} warm-up connections, ${parallel} connections in flight, each closing (DISCONNECT, close_notify, close) after its CONNACK, until ${fmtInt(connections)} were started or ${durationS} s passed. Figure: broker utime+stime over the window (until every started connection finished, plus 0.2 s) divided by completed handshakes. The load generator's CPU per handshake is in the TLS details table; when it saturates its core the broker simply idles part of the time.`,
    `- Idle TLS connections: open N connections, at most ${TLS_IDLE.parallel} handshaking at once (whatever N: the load generator's ~1 ms of CPU per handshake sets the pace, and more in flight would only overflow Mosquitto's listen backlog of 100), keep them ${TLS_IDLE.idleS} s idle; figure: (broker VmRSS after − VmRSS before opening) / connections still held, in KiB (1024 bytes, /proc's "kB"). The load generator gives up on connections not open after max(${TLS_TIMEOUT_S} s, N / ${IDLE_OPENED_PER_S} s).`,
    `- Idle TLS connections, limits: one client address reaches one server port through at most its ephemeral ports (net.ipv4.ip_local_port_range, ${fmtInt(ephemeralPortCount())} here), so above half of them bench/tls-storm binds its sockets round robin to 127.0.0.1 … 127.0.0.K (IP_BIND_ADDRESS_NO_PORT; K = N / half the range, rounded up: ${sourceAddressCount(50_000)} for 50,000 here); the TLS details table says how many. Every connection is an open file in the load generator and in the broker (two in HAProxy): brokers start with their soft limit of open files raised to the hard one (\`prlimit --nofile\`), the generator raises its own; a run the hard limit (${fmtInt(hardFileLimit())} here) cannot hold runs with as many connections as fit when that is at least ${FIT_SHARE * 100}% of N (the TLS details table says so), and is skipped otherwise, with the reason in the notes.`,
  ]
}

const tlsHeadline = (scenario, run) => (run?.ok ? (scenario.tls.mode === 'storm' ? run.tls.brokerUs : run.tls.kibPerConnection) : null)

// Culex against the Node TLS floor: what Culex adds to Node's tls.
function floorRatioColumns (brokers) {
  const culex = brokers.find((b) => b.name === 'culex')
  const floor = brokers.find((b) => b.name === FLOOR)
  return culex && floor ? [{ broker: culex, base: floor }] : []
}

export function tlsTable (results, brokers, scenarios) {
  const ratios = [...ratioColumns(brokers), ...floorRatioColumns(brokers)]
  const rows = scenarios.filter(isTls).map((s) => [
    `${s.label} (${s.unit})`,
    ...brokers.map((b) => cell(results, s, b, (run) => (s.tls.mode === 'storm' ? fmtUs(run.tls.brokerUs) : fmtKiB(run.tls.kibPerConnection)))),
    ...ratios.map((r) => fmtRatio(tlsHeadline(s, results.runs[s.name]?.[r.broker.name]), tlsHeadline(s, results.runs[s.name]?.[r.base.name]))),
  ])
  return table(ratioHeader('Scenario', brokers, ratios), rows)
}

export function tlsDetailsTable (results, brokers, scenarios) {
  const rows = []
  for (const s of scenarios.filter(isTls)) {
    for (const b of brokers) {
      const run = results.runs[s.name]?.[b.name]
      if (!run?.ok) continue
      const f = run.figures
      rows.push(s.tls.mode === 'storm'
        ? [s.name, b.label, `${fmtInt(f.completed)} of ${fmtInt(f.started)} completed`, `${fmtInt(f.per_s)} handshakes/s`, `${fmtUs(run.tls.clientUs)} µs per handshake`, '']
        : [s.name, b.label, `${fmtInt(f.held)} of ${fmtInt(run.tls.connections ?? s.tls.connections)} held${fitted(run.tls)}${fromSources(f)}`, `opened in ${f.open_s.toFixed(1)} s`, '', `${fmtMiB(run.tls.rssBeforeKiB)} → ${fmtMiB(run.tls.rssAfterKiB)}`])
    }
  }
  return table(['Scenario', 'Broker', 'Connections', 'Rate', 'Load generator CPU', 'Broker RSS before → after'], rows, 2)
}
