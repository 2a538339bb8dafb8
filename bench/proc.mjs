// What the bench scripts (run.mjs, overload.mjs, fuzz.mjs) read off Linux and need around a broker
// process: CPU ticks and memory from /proc, open-file limits, free ports, waiting for a listener,
// processes pinned to a core and stopped (or killed at exit) again.
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

export const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100

/** utime + stime of a whole process (all threads), in clock ticks; the sum over a list of pids. */
export function processTicks (pid) {
  if (Array.isArray(pid)) return pid.reduce((sum, p) => sum + processTicks(p), 0)
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields[0] is field 3 (state)
  return Number(fields[11]) + Number(fields[12])
}

/** Busy and steal ticks of these cores (numbers or strings), from /proc/stat. */
export function coreTicks (cores) {
  const names = new Set(cores.map((c) => `cpu${c}`))
  const totals = { busy: 0, steal: 0 }
  for (const line of fs.readFileSync('/proc/stat', 'utf8').split('\n')) {
    const [name, ...values] = line.split(/\s+/)
    if (!names.has(name)) continue
    const [user, nice, system, , , irq, softirq, steal] = values.map(Number)
    totals.busy += user + nice + system + irq + softirq
    totals.steal += steal
  }
  return totals
}

const add = (a, b) => (b === null ? null : a + b)

/** A /proc/<pid>/status field in kB (VmRSS, VmHWM); summed over a list of pids; null when absent. */
export function statusKiB (pid, field) {
  if (Array.isArray(pid)) return pid.reduce((sum, p) => (sum === null ? null : add(sum, statusKiB(p, field))), 0)
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return match ? Number(match[1]) : null
}

/** Soft and hard limit of open files of a process. */
export function fileLimits (pid) {
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))
  const parse = (v) => (v === 'unlimited' ? Infinity : Number(v))
  return match ? { soft: parse(match[1]), hard: parse(match[2]) } : null
}

/** The hard limit of open files of this process, and so of every process it starts; Infinity when unlimited. */
export const hardFileLimit = () => fileLimits(process.pid)?.hard ?? Infinity

/**
 * Lifts a process's soft limit of open files to its hard one when it is below `needed` (idle scenarios
 * hold thousands of sockets); throws, naming `who`, when that is still too low.
 */
export function raiseFileLimit (pid, needed, who) {
  let limits = fileLimits(pid)
  if (limits && limits.soft < needed && limits.soft < limits.hard) {
    const hard = limits.hard === Infinity ? 'unlimited' : String(limits.hard)
    spawnSync('prlimit', ['--pid', String(pid), `--nofile=${hard}:${hard}`])
    limits = fileLimits(pid)
  }
  if (limits && limits.soft < needed) {
    throw new Error(`${who} may open only ${limits.soft} files (hard limit ${limits.hard}), ${needed} needed: raise it, e.g. \`ulimit -n ${needed}\` (as root, or after raising the hard limit)`)
  }
}

/** How many ports one client address may use towards one server address and port (net.ipv4.ip_local_port_range). */
export function ephemeralPortCount () {
  const [low, high] = fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number)
  return high - low + 1
}

/**
 * Client addresses needed to hold `connections` to one server port: one per half of the ephemeral range
 * (the other half left to sockets in TIME_WAIT), as bench/tls-storm.c chooses its --sources.
 */
export const sourceAddressCount = (connections) => Math.max(1, Math.ceil(connections / Math.floor(ephemeralPortCount() / 2)))

/** A port the OS calls free on `host`, other than `other`. */
export async function freePort (host, other) {
  const port = await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, host, () => {
      const { port } = server.address()
      server.close(() => resolve(port))
    })
  })
  return port === other ? freePort(host, other) : port
}

export const hasExited = (child) => child.exitCode !== null || child.signalCode !== null

function canConnect (host, port) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}

/**
 * Waits until `child` accepts TCP connections on host:port, trying every `intervalMs`; `exited(child)`
 * words the error if it dies first.
 */
export async function waitUntilAccepting (child, host, port, timeoutMs, exited, intervalMs = 50) {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (hasExited(child)) throw new Error(exited(child))
    if (await canConnect(host, port)) return
    await sleep(intervalMs)
  }
  throw new Error(`did not accept TCP connections on port ${port} within ${timeoutMs / 1000} s`)
}

/** `git describe --always --dirty` of the repository at root. */
export function gitRevision (root) {
  const { stdout, status } = spawnSync('git', ['-C', root, 'describe', '--always', '--dirty'], { encoding: 'utf8' })
  return status === 0 ? stdout.trim() : 'no git revision'
}

/** Compiles a C source when its binary is missing or older than it. */
export function buildC (source, binary, libraries = []) {
  const upToDate = fs.existsSync(binary) && fs.statSync(binary).mtimeMs >= fs.statSync(source).mtimeMs
  if (upToDate) return
  console.log(`compiling ${path.basename(source)}`)
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', binary, source, ...libraries], { stdio: 'inherit' })
}

/** CPU ticks of the broker (a pid or a list), the load generator and the cores, and the broker's RSS, now. */
export function sampleCpu (brokerPid, loadgenPid, cores) {
  return {
    at: process.hrtime.bigint(),
    broker: processTicks(brokerPid),
    loadgen: processTicks(loadgenPid),
    cores: coreTicks(cores),
    brokerRssKiB: statusKiB(brokerPid, 'VmRSS'),
  }
}

/** Between two samples, in % of one core: broker, load generator, everything else on the cores, and steal. */
export function cpuPercentages (begin, end) {
  const seconds = Number(end.at - begin.at) / 1e9
  const pct = (ticks) => (100 * ticks) / CLOCK_TICKS / seconds
  const broker = pct(end.broker - begin.broker)
  const loadgen = pct(end.loadgen - begin.loadgen)
  const other = Math.max(0, pct(end.cores.busy - begin.cores.busy) - broker - loadgen)
  return { broker, loadgen, other, steal: pct(end.cores.steal - begin.cores.steal) }
}

const liveChildren = new Set()

/**
 * Spawns `command` pinned to `core`, with `raiseFiles` its soft limit of open files at the hard one (prlimit);
 * `child.exitPromise` resolves with { code, signal }, `child.output.text` is its output's tail.
 */
export function spawnPinned (core, command, args, { raiseFiles = false } = {}) {
  const hard = hardFileLimit() === Infinity ? 'unlimited' : String(hardFileLimit())
  const pinned = ['taskset', '-c', core, command, ...args]
  const argv = raiseFiles ? ['prlimit', `--nofile=${hard}:${hard}`, ...pinned] : pinned
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  liveChildren.add(child)
  child.exitPromise = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      liveChildren.delete(child)
      resolve({ code, signal })
    })
  })
  child.output = keepTail(child)
  return child
}

// Keeps the last few KB of a child's stdout and stderr for error messages.
function keepTail (child, limit = 4000) {
  const tail = { text: '' }
  const append = (chunk) => { tail.text = (tail.text + chunk).slice(-limit) }
  child.stdout.setEncoding('utf8').on('data', append)
  child.stderr.setEncoding('utf8').on('data', append)
  return tail
}

/** The exit of a spawnPinned child, or null when it has not exited within ms. */
export async function exitWithin (child, ms) {
  // Unreferenced: a timer left after the child exited must not keep the runner alive for the rest of ms.
  const timeout = sleep(ms, null, { ref: false })
  return Promise.race([child.exitPromise, timeout])
}

/** SIGTERM, then SIGKILL when a spawnPinned child has not exited within timeoutMs. */
export async function stopProcess (child, timeoutMs = 5_000) {
  if (hasExited(child)) return
  child.kill('SIGTERM')
  if (await exitWithin(child, timeoutMs)) return
  child.kill('SIGKILL')
  await child.exitPromise
}

/** SIGKILL to every spawnPinned child still running (on exit and on signals). */
export function killAllChildren () {
  for (const child of liveChildren) child.kill('SIGKILL')
}

/** The last lines of a process's output, on one line. */
export function lastLines (text, count = 5) {
  return text.trim().split('\n').slice(-count).join(' | ') || '(no output)'
}
