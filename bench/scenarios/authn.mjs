// CONNECTs per second through an authenticator: password_based with backend = built_in_database, http (a
// local node:http service answering {"result":"allow"} from this process, pinned to core 1 with the
// clients) and postgresql (a server started here with initdb, when PostgreSQL is installed). Culex only:
// Mosquitto and aedes have no such authenticators. Bounded: at most CONNECTS per variant, within the
// --duration window (at least 5 s), 50 in flight, each a fresh TCP connection that sends CONNECT, waits
// for CONNACK and closes.
import { execFileSync, spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import mqttPacket from 'mqtt-packet'
import pg from 'pg'
import { BROKER_START_TIMEOUT_MS, CULEX_ENTRY, HOST, LOADGEN_CORE, describeExit, spawnBroker, stopBroker } from '../brokers.mjs'
import { fmtInt, fmtRatio, table } from '../report.mjs'
import { freePort, waitUntilAccepting } from '../proc.mjs'

export const scenarios = [
  { name: 'authn-connect', label: 'CONNECTs per second through an authenticator (Culex)', unit: 'connects/s', authn: true },
]

export const together = true

const CONNECTS = 20_000
const IN_FLIGHT = 50
const PASSWORD = 'bench-pw'
const SALT = 'bench-salt'
const HASH = createHash('sha256').update(SALT + PASSWORD).digest('hex')

function pinSelf () {
  try { execFileSync('taskset', ['-pc', LOADGEN_CORE, String(process.pid)], { stdio: 'ignore' }) } catch { /* not pinned */ }
}

/** CONNECT → CONNACK round trips on fresh connections: { rate, done, refused, seconds }. */
async function connectLoad (port, seconds) {
  const packet = (i) => mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId: `bench-${i}`, username: `user${i % 100}`, password: Buffer.from(PASSWORD) })
  let started = 0
  let done = 0
  let refused = 0
  const deadline = Date.now() + seconds * 1000
  const t0 = process.hrtime.bigint()
  const one = () => new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port, noDelay: true })
    let got = Buffer.alloc(0)
    socket.once('connect', () => socket.write(packet(started)))
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk])
      if (got.length >= 4) {
        if (got[3] !== 0) refused++
        done++
        socket.destroy()
        resolve()
      }
    })
    socket.once('error', () => { refused++; resolve() })
    socket.once('close', resolve)
  })
  const worker = async () => {
    while (started < CONNECTS && Date.now() < deadline) {
      started++
      await one()
    }
  }
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker))
  const elapsed = Number(process.hrtime.bigint() - t0) / 1e9
  return { rate: done / elapsed, done, refused, seconds: elapsed }
}

/** A local auth service: 200 {"result":"allow"} to every POST. */
async function httpService () {
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{"result":"allow"}'))
  })
  server.keepAliveTimeout = 60_000
  await new Promise((resolve) => server.listen(0, HOST, resolve))
  return { url: `http://${HOST}:${server.address().port}/auth`, close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve) }) }
}

/** PostgreSQL in a temporary directory (as test/postgres.ts): { server, close }, or a reason it cannot run. */
async function postgresServer () {
  const root = '/usr/lib/postgresql'
  const version = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))).sort((a, b) => b - a)[0] : undefined
  if (!version) return { error: 'PostgreSQL is not installed' }
  const bin = path.join(root, version, 'bin')
  const asRoot = process.getuid?.() === 0
  const cmd = (file, args) => (asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(bin, file), ...args]] : [path.join(bin, file), args])
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-pg-'))
  const pwfile = path.join(dir, 'pw')
  fs.writeFileSync(pwfile, 'bench\n')
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }))
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }))
    fs.chownSync(dir, uid, gid)
    fs.chownSync(pwfile, uid, gid)
  }
  const [initdb, initArgs] = cmd('initdb', ['-D', path.join(dir, 'data'), '-U', 'bench', `--pwfile=${pwfile}`, '--auth=scram-sha-256', '--no-sync', '--locale=C'])
  execFileSync(initdb, initArgs, { stdio: 'ignore' })
  const port = await freePort(HOST)
  const [postgres, args] = cmd('postgres', ['-D', path.join(dir, 'data'), '-p', String(port), '-h', HOST, '-k', dir, '-c', 'fsync=off'])
  // The database on core 1 with the clients: the broker's core is the one measured.
  const child = spawn('taskset', ['-c', LOADGEN_CORE, postgres, ...args], { stdio: 'ignore', detached: true })
  const close = async () => {
    try { process.kill(-child.pid, 'SIGINT') } catch { /* gone */ }
    await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', resolve)))
    fs.rmSync(dir, { recursive: true, force: true })
  }
  const client = () => new pg.Client({ host: HOST, port, user: 'bench', password: 'bench', database: 'postgres' })
  for (let i = 0; ; i++) {
    const c = client()
    try {
      await c.connect()
      await c.query('CREATE TABLE mqtt_user (username text PRIMARY KEY, password_hash text, salt text, is_superuser boolean)')
      for (let u = 0; u < 100; u++) await c.query('INSERT INTO mqtt_user VALUES ($1, $2, $3, false)', [`user${u}`, HASH, SALT])
      await c.end()
      break
    } catch (err) {
      await c.end().catch(() => {})
      if (i > 200) { await close(); return { error: `PostgreSQL did not start: ${err.message}` } }
      await sleep(100)
    }
  }
  return { server: `${HOST}:${port}`, close }
}

const VARIANTS = [
  {
    name: 'built_in_database',
    label: 'password_based, built_in_database (sha256)',
    setUp: async (dir) => {
      const file = path.join(dir, 'users.csv')
      fs.writeFileSync(file, ['user_id,password_hash,salt,is_superuser', ...Array.from({ length: 100 }, (_, u) => `user${u},${HASH},${SALT},false`)].join('\n') + '\n')
      return { config: `{ mechanism = password_based, backend = built_in_database, bootstrap_file = ${JSON.stringify(file)}, bootstrap_type = hash, password_hash_algorithm { name = sha256, salt_position = prefix } }` }
    },
  },
  {
    name: 'http',
    label: 'password_based, http (local node:http service, keep-alive pool of 8)',
    setUp: async () => {
      const service = await httpService()
      return { config: `{ mechanism = password_based, backend = http, method = post, url = ${JSON.stringify(service.url)}, body { username = "\${username}", password = "\${password}", clientid = "\${clientid}" } }`, close: service.close }
    },
  },
  {
    name: 'postgresql',
    label: 'password_based, postgresql (pool of 8, prepared statement, sha256)',
    setUp: async () => {
      const db = await postgresServer()
      if (db.error) return { error: db.error }
      return {
        config: `{ mechanism = password_based, backend = postgresql, server = "${db.server}", database = postgres, username = bench, password = bench, query = "SELECT password_hash, salt, is_superuser FROM mqtt_user WHERE username = \${username} LIMIT 1", password_hash_algorithm { name = sha256, salt_position = prefix } }`,
        close: db.close,
      }
    },
  },
]

async function runVariant (variant, seconds) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-authn-'))
  let backend
  let child
  try {
    backend = await variant.setUp(dir)
    if (backend.error) return { name: variant.name, label: variant.label, error: backend.error }
    const port = await freePort(HOST)
    const config = path.join(dir, 'culex.hocon')
    fs.writeFileSync(config, [
      `node.data_dir = ${JSON.stringify(dir)}`,
      'log.console { enable = true, level = error }',
      `listeners.tcp.default { bind = "${HOST}:${port}" }`,
      'listeners.ws.default { enable = false }',
      'dashboard.listeners.http.enable = false',
      'durable_storage.backend = memory',
      'flapping_detect.enable = false',
      `authentication = [ ${backend.config} ]`,
      '',
    ].join('\n'))
    child = spawnBroker(process.execPath, [CULEX_ENTRY, '-c', config])
    await waitUntilAccepting(child, HOST, port, BROKER_START_TIMEOUT_MS, describeExit)
    await connectLoad(port, 1) // warm-up: connections, prepared statements, JIT
    const result = await connectLoad(port, Math.max(5, seconds))
    return { name: variant.name, label: variant.label, ...result }
  } catch (err) {
    return { name: variant.name, label: variant.label, error: err.message }
  } finally {
    if (child) await stopBroker(child)
    await backend?.close?.()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export function runsOn (broker) {
  return broker.name === 'culex'
}

/** Rows { name, label, rate, done, refused, seconds } or { name, label, error }, one per authenticator. */
export async function run (_scenario, brokers, options) {
  if (!brokers.some(runsOn)) return []
  pinSelf()
  const rows = []
  for (const variant of VARIANTS) rows.push(await runVariant(variant, options.duration))
  return rows
}

export function describe (_scenario, row) {
  if (row.error) return `not run: ${row.error}`
  return `${fmtInt(row.rate)} connects/s  (${row.done} in ${row.seconds.toFixed(1)} s${row.refused ? `, ${row.refused} refused` : ''})`
}

export const method = (options) => (options.scenarios.some((s) => s.authn)
  ? [`- Authentication: Culex alone (Mosquitto and aedes have no HTTP or SQL authenticators), one authenticator per run: built_in_database, http (a node:http service in the runner answering {"result":"allow"}), postgresql (PostgreSQL started with initdb, the table of EMQX's docs, 100 users, sha256 with a salt). The runner (its clients, the HTTP service) and PostgreSQL are pinned to core ${LOADGEN_CORE}, the broker to core 0. Each CONNECT is a fresh TCP connection (MQTT 3.1.1, user name and password) that waits for CONNACK and closes, ${IN_FLIGHT} in flight, at most ${CONNECTS} per run within max(5, --duration) seconds after a one-second warm-up.`]
  : [])

export function authnTable (rows) {
  const base = rows.find((r) => r.name === 'built_in_database' && !r.error)
  return table(['Authenticator', 'CONNECTs/s', '/ built_in_database', 'CONNECTs', 'refused'],
    rows.map((r) => (r.error ? [r.label, 'not run', 'n/a', r.error, ''] : [r.label, fmtInt(r.rate), fmtRatio(r.rate, base?.rate), String(r.done), String(r.refused)])))
}
