// node.workers = 2 through `culex start`: a primary process forking two workers that share the listeners
// and form a cluster over the IPC channel. Real processes, real MQTT clients (MQTT.js over tcp and ws,
// mosquitto_pub/sub); connections are spread over the workers round-robin by the primary.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { once } from 'node:events'
import { get as httpGet, request as httpRequest } from 'node:http'
import { createServer, type AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { IClientOptions, MqttClient } from 'mqtt'
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { ADMIN, basic, until } from '../api/api-helpers.js'
import { collect, connectClient, connectCollecting, delay, end, freePort, ping, probe, spawnBrokerProcess, within } from '../helpers.js'
import { killGroup, spawnNodeOwned } from '../processes.js'

type Teardown = { teardown: (fn: () => unknown) => void }

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url))

const dir = await mkdtemp(join(tmpdir(), 'culex-workers-'))

interface Workers { primary: ChildProcess, tcp: number, ws: number, http: number, log: string }

/** A `culex start` with node.workers = 2, resolved once the primary logged that every worker is up. */
async function startWorkers (name: string): Promise<Workers> {
  const [tcp, ws, http] = [await freePort(), await freePort(), await freePort()]
  const home = join(dir, name)
  const log = join(home, 'culex.log')
  const keys = join(dir, `${name}-keys.txt`)
  await writeFile(keys, `${ADMIN}\n`)
  const primary = await spawnBrokerProcess(t, join(dir, `${name}.hocon`), `node.workers = 2
node.data_dir = "${join(home, 'data')}"
listeners.tcp.default.bind = "127.0.0.1:${tcp}"
listeners.ws.default.bind = "127.0.0.1:${ws}"
listeners.ssl.default.enable = false
listeners.wss.default.enable = false
dashboard.listeners.http.bind = "127.0.0.1:${http}"
api_key.bootstrap_file = "${keys}"
cluster.heartbeat_interval = 200ms
cluster.node_timeout = 1s
log.console.enable = false
log.file.default { enable = true, path = "${log}", level = info, formatter = json }
`, tcp)
  await until(async () => (await logLines(log)).some(started), 'the primary logs culex started', 30_000)
  return { primary, tcp, ws, http, log }
}

// Probes across workers: a worker's messages and notices reach the primary over one channel, and it relays
// them to the other worker over one channel, in that order; a probe from a publisher comes after anything
// it published before, on every worker.

const started = (l: Record<string, unknown>) => /^culex \S+ started in \d+ ms$/.test(String(l.msg)) && l.workers === 2

/** The JSON lines of a log file the primary and its workers append to. */
async function logLines (file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8').catch(() => '')
  return text.split('\n').flatMap((line) => {
    try { return [JSON.parse(line) as Record<string, unknown>] } catch { return [] }
  })
}

/** The child processes of a process (its workers). */
/** The primary's worker processes (not other children, such as tsx's esbuild service on a cold cache). */
async function childrenOf (pid: number): Promise<number[]> {
  const pids: number[] = []
  for (const task of await readdir(`/proc/${pid}/task`).catch(() => [] as string[])) {
    const text = await readFile(`/proc/${pid}/task/${task}/children`, 'utf8').catch(() => '')
    for (const child of text.split(/\s+/).filter(Boolean).map(Number)) {
      const cmdline = await readFile(`/proc/${child}/cmdline`, 'utf8').catch(() => '')
      if (cmdline.includes('broker.ts')) pids.push(child)
    }
  }
  return pids
}

/** Whether a process runs (a zombie nobody reaped counts as gone). */
async function alive (pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)
  return stat !== '' && state !== 'Z' && state !== 'X'
}

const brokers: Workers[] = []
t.teardown(async () => {
  for (const b of brokers) {
    if (b.primary.exitCode === null && b.primary.signalCode === null) {
      const exited = new Promise((resolve) => b.primary.once('exit', resolve))
      b.primary.kill('SIGKILL')
      await within(5000, exited)
    }
  }
  await rm(dir, { recursive: true, force: true })
})

const main = await startWorkers('main')
brokers.push(main)

/** An MQTT 5 client on the tcp listener, or the ws one; ended at teardown. */
async function client (tt: Test, opts: IClientOptions & { ws?: boolean } = {}): Promise<MqttClient> {
  const { ws, ...rest } = opts
  const c = ws
    ? await connectClient(main.ws, { protocol: 'ws', path: '/mqtt', protocolVersion: 5, ...rest })
    : await connectClient(main.tcp, { protocolVersion: 5, ...rest })
  tt.teardown(() => end(c, true))
  return c
}

/** GET of the management API on a connection of its own (fetch would keep one alive, to one worker). */
function apiGet (b: Workers, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port: b.http, path, agent: false, timeout: 3000, headers: { authorization: basic(ADMIN) } }, (res) => {
      let body = ''
      res.on('data', (c: Buffer) => { body += String(c) })
      res.on('end', () => { try { resolve(JSON.parse(body)) } catch (err) { reject(err as Error) } })
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
  })
}

/** Each worker's own count of connections, from /api/v5/nodes (each request lands on either worker). */
async function connectionsPerWorker (b: Workers): Promise<Map<string, number>> {
  const seen = new Map<string, number>()
  await until(async () => {
    for (const n of await apiGet(b, '/api/v5/nodes') as { node: string, connections: number | null }[]) {
      if (n.connections !== null) seen.set(n.node, n.connections)
    }
    return seen.size === 2
  }, 'both workers answered /api/v5/nodes', 5000)
  return seen
}

t.test('each worker\'s log lines say which worker wrote them', async (t) => {
  const listenerLines = (await logLines(main.log)).filter((l) => String(l.msg).startsWith('listener tcp:default on 127.0.0.1:'))
  t.same(listenerLines.map((l) => l.worker).sort(), [1, 2], 'one listener line from each worker, with its number')
})

t.test('messages cross workers: every subscriber, tcp or ws, gets every message once', async (t) => {
  const subs = await Promise.all(Array.from({ length: 6 }, async (_, i) => {
    const c = await client(t, { clientId: `sub-${i}`, ws: i % 2 === 1 })
    await c.subscribeAsync('w/#', { qos: 1 })
    return collect(c)
  }))
  const pub = await client(t, { clientId: 'pub' })
  const perWorker = await connectionsPerWorker(main)
  t.same([...perWorker.keys()].sort(), ['culex-w1@127.0.0.1', 'culex-w2@127.0.0.1'], 'the API lists both workers')
  t.ok([...perWorker.values()].every((n) => n > 0), `clients on each worker (${JSON.stringify(Object.fromEntries(perWorker))})`)

  const expected: string[] = []
  for (let i = 0; i < 10; i++) {
    const qos = i % 2 as 0 | 1
    expected.push(`q${qos}-${i}`)
    await pub.publishAsync(`w/${i}`, `q${qos}-${i}`, { qos })
  }
  for (const sub of subs) await sub.waitFor(expected.length, 5000)
  await probe(pub, 'w/probe', subs, 5000)
  subs.forEach((sub, i) => t.same(sub.messages.map((m) => m.payload.toString()).sort(), [...expected].sort(), `subscriber ${i}: each message once`))
})

t.test('a retained message reaches new subscribers on every worker, and its clearing too', async (t) => {
  const pub = await client(t, { clientId: 'retainer' })
  // Two connections in turn, one on each worker: a probe they both get shows both workers have what came before it.
  const witnesses = await Promise.all([0, 1].map(async (i) => {
    const c = await client(t, { clientId: `r-witness-${i}` })
    await c.subscribeAsync('probe/r', { qos: 2 })
    return collect(c)
  }))
  await pub.publishAsync('r/kept', 'kept', { qos: 1, retain: true })
  await probe(pub, 'probe/r', witnesses, 5000)
  for (let i = 0; i < 4; i++) {
    const c = await client(t, { clientId: `r-${i}`, ws: i >= 2 })
    const got = collect(c)
    await c.subscribeAsync('r/#', { qos: 1 })
    await got.waitFor(1)
    t.match(got.messages[0], { topic: 'r/kept', payload: Buffer.from('kept'), packet: { retain: true } }, `subscriber ${i} gets it`)
  }
  await pub.publishAsync('r/kept', '', { qos: 1, retain: true })
  await probe(pub, 'probe/r', witnesses, 5000)
  const cleared = await Promise.all(Array.from({ length: 4 }, async (_, i) => {
    const c = await client(t, { clientId: `r2-${i}`, ws: i >= 2 })
    const got = collect(c)
    await c.subscribeAsync('r/#', { qos: 1 })
    await ping(c) // retained messages go out right behind the SUBACK
    return got
  }))
  t.same(cleared.map((g) => g.messages.length), [0, 0, 0, 0], 'cleared on every worker')
})

t.test('the same client id again takes the session over, on whichever worker it was', async (t) => {
  let previous: { c: MqttClient, reasons: number[], closed: boolean } | null = null
  const all: { c: MqttClient, reasons: number[], closed: boolean }[] = []
  for (let i = 0; i < 4; i++) {
    const c = await client(t, { clientId: 'twin', ws: i === 3 })
    const entry = { c, reasons: [] as number[], closed: false }
    c.on('disconnect', (packet) => entry.reasons.push(packet.reasonCode ?? 0))
    c.on('close', () => { entry.closed = true })
    all.push(entry)
    if (previous) {
      const old = previous
      await until(() => old.closed, `connection ${i - 1} closed`, 5000)
      t.same(old.reasons, [0x8e], `connection ${i - 1} got DISCONNECT 0x8E session taken over`)
    }
    previous = entry
  }
  await ping(all[3]!.c) // the last connection is still served after the others were taken over
  t.same(all.map((e) => e.closed), [true, true, true, false], 'only the last connection stays')
  t.ok(all[3]!.c.connected)
  const lines = await logLines(main.log)
  t.ok(lines.some((l) => l.msg === 'session taken over by a connection on another node' && String(l.client).startsWith('twin')), 'a takeover crossed workers')
})

t.test('a persistent session follows its client across workers', async (t) => {
  const opts = { clientId: 'keeper', protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 60 } }
  const first = await connectClient(main.tcp, opts)
  await first.subscribeAsync('p/#', { qos: 1 })
  await end(first)
  const pub = await client(t, { clientId: 'p-pub' })
  for (let i = 0; i < 5; i++) await pub.publishAsync(`p/${i}`, `m${i}`, { qos: 1 })
  const received: string[] = []
  for (let round = 0; round < 3; round++) {
    const { client: c, got, sessionPresent } = await connectCollecting(main.tcp, opts)
    t.teardown(() => end(c, true))
    t.equal(sessionPresent, true, `reconnection ${round}: Session Present`)
    if (round === 0) await got.waitFor(5, 5000)
    else await got.probe(pub, 'p/probe', 5000) // published after it resumed: anything redelivered is ahead of it
    received.push(...got.messages.map((m) => m.payload.toString()))
    await end(c)
  }
  t.same(received.sort(), ['m0', 'm1', 'm2', 'm3', 'm4'], 'the 5 messages, once in total')
  const lines = await logLines(main.log)
  t.ok(lines.some((l) => l.msg === 'cluster: session taken over from another node' && l.clientId === 'keeper'), 'the session moved between workers')
})

t.test('a shared subscription over both workers: each message to one member', async (t) => {
  const members = await Promise.all(Array.from({ length: 4 }, async (_, i) => {
    const c = await client(t, { clientId: `member-${i}`, ws: i % 2 === 1 })
    await c.subscribeAsync('$share/g/s/t', { qos: 1 })
    await c.subscribeAsync('probe/s', { qos: 2 })
    return { c, got: collect(c) }
  }))
  const inboxes = members.map((m) => m.got)
  // The workers tell each other their members of the group: a probe from each member, after its SUBSCRIBE
  // (members 0 and 2, and 1 and 3, are on different workers), shows the other worker has heard.
  for (const m of members) await probe(m.c, 'probe/s', inboxes, 5000)
  const pub = await client(t, { clientId: 's-pub' })
  for (let i = 0; i < 40; i++) await pub.publishAsync('s/t', String(i), { qos: 1 })
  await until(() => inboxes.reduce((n, m) => n + m.messages.length, 0) >= 40, '40 deliveries', 5000)
  await probe(pub, 'probe/s', inboxes, 5000)
  const payloads = inboxes.flatMap((m) => m.messages.map((x) => Number(x.payload.toString())))
  t.equal(payloads.length, 40, '40 deliveries in total')
  t.same([...new Set(payloads)].sort((a, b) => a - b), Array.from({ length: 40 }, (_, i) => i), 'each message once')
  const counts = inboxes.map((m) => m.messages.length)
  t.ok(counts.filter((n) => n > 0).length >= 2, `spread over members (${counts.join(' ')})`)
})

const hasMosquitto = ['mosquitto_pub', 'mosquitto_sub', 'stdbuf'].every((bin) => {
  try { execFileSync('which', [bin]); return true } catch { return false }
})

t.test('mosquitto_pub and mosquitto_sub through the workers', { skip: hasMosquitto ? false : 'mosquitto clients (or stdbuf) not installed' }, async (t) => {
  // Line-buffered: its debug line for the SUBACK says when to publish.
  const sub = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-d', '-h', '127.0.0.1', '-p', String(main.tcp), '-V', 'mqttv5', '-q', '1', '-t', 'mq/#', '-C', '4', '-W', '8', '-v'])
  t.teardown(() => { sub.kill('SIGKILL') })
  let out = ''
  sub.stdout.on('data', (c: Buffer) => { out += String(c) })
  const exited = new Promise<number | null>((resolve) => sub.once('close', resolve))
  await until(() => out.includes('SUBACK'), 'mosquitto_sub subscribed', 5000)
  // Separate processes: each a new connection, on the workers in turn.
  for (let i = 0; i < 4; i++) {
    await new Promise<void>((resolve, reject) => execFile('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(main.tcp), '-q', '1', '-t', `mq/${i}`, '-m', `hello-${i}`],
      { timeout: 5000 }, (err) => err ? reject(err) : resolve()))
  }
  t.equal(await Promise.race([exited, delay(8000).then(() => 'timeout')]), 0, 'mosquitto_sub got its 4 messages')
  for (let i = 0; i < 4; i++) t.match(out, `mq/${i} hello-${i}`)
})

t.test('a worker that stops reading (SIGSTOP) holds the publishers of the other; after SIGCONT every message arrives', async (t) => {
  const sub = await client(t, { clientId: 'bp-sub' })
  await sub.subscribeAsync('bp/#', { qos: 1 })
  const got = collect(sub)
  const nodeOf = (id: string) => until(async () => {
    const c = await apiGet(main, `/api/v5/clients/${id}`).catch(() => null) as { node?: string } | null
    return c?.node ?? null
  }, `the node of ${id}`, 5000)
  const subNode = await nodeOf('bp-sub')
  // Connections alternate between the workers: one of the next two is on the other.
  let pub = await client(t, { clientId: 'bp-pub', reconnectPeriod: 0 })
  if (await nodeOf('bp-pub') === subNode) pub = await client(t, { clientId: 'bp-pub', reconnectPeriod: 0 })
  t.not(await nodeOf('bp-pub'), subNode, 'publisher and subscriber on different workers')
  const startedLine = (await logLines(main.log)).filter((l) => l.msg === 'workers: worker started' && l.worker === subNode).at(-1)
  const pid = startedLine?.pid as number
  t.ok(pid > 0, `the subscriber's worker process (${pid})`)

  process.kill(pid, 'SIGSTOP')
  let resumed = false
  t.teardown(() => { if (!resumed) process.kill(pid, 'SIGCONT') })
  const count = 500
  const payload = Buffer.alloc(64 * 1024, 0x62)
  let acked = 0
  const acks = Array.from({ length: count }, (_, i) => pub.publishAsync(`bp/${i}`, payload, { qos: 1 }).then(() => { acked++ }))
  await until(async () => (await logLines(main.log)).some((l) => l.msg?.toString().startsWith('workers: a worker reads the messages relayed to it too slowly') && (l.workers as string[]).includes(subNode)), 'the primary tells the workers to hold', 30_000)
  const heldAt = acked
  await delay(500) // that the publisher stays held can only be seen over time
  t.ok(acked < count, `the publisher is held: ${acked} of ${count} acknowledged while the other worker is stopped`)
  t.ok(acked - heldAt < 10, 'and stays held')

  process.kill(pid, 'SIGCONT')
  resumed = true
  await Promise.all(acks)
  t.equal(acked, count, 'every message acknowledged once the worker reads again')
  await got.waitFor(count, 15_000)
  t.equal(got.messages.length, count, 'and every message delivered to the subscriber on that worker')
  t.ok((await logLines(main.log)).some((l) => l.msg === 'workers: relayed messages drained; publishers go on'), 'the primary logged the end of the hold')
})

t.test('a worker killed with SIGKILL is forked again', async (t) => {
  const before = await childrenOf(main.primary.pid!)
  t.equal(before.length, 2, 'two worker processes')
  const startedBefore = (await logLines(main.log)).filter((l) => l.msg === 'workers: worker started').length
  process.kill(before[0]!, 'SIGKILL')
  const after = await until(async () => {
    const now = await childrenOf(main.primary.pid!)
    return now.length === 2 && !now.includes(before[0]!) ? now : null
  }, 'a new worker process', 8000)
  t.ok(after.includes(before[1]!), 'the other worker kept running')
  await until(async () => (await logLines(main.log)).filter((l) => l.msg === 'workers: worker started').length > startedBefore, 'the new worker has its listeners up', 30_000)
  const lines = await logLines(main.log)
  t.ok(lines.some((l) => l.msg === 'workers: a worker exited; forking it again' && l.signal === 'SIGKILL'), 'the primary logged the death')

  const subs = await Promise.all(Array.from({ length: 4 }, async (_, i) => {
    const c = await client(t, { clientId: `after-${i}`, ws: i % 2 === 1 })
    await c.subscribeAsync('k/#', { qos: 1 })
    return collect(c)
  }))
  const perWorker = await connectionsPerWorker(main)
  t.ok([...perWorker.values()].every((n) => n > 0), `clients on each worker again (${JSON.stringify(Object.fromEntries(perWorker))})`)
  const pub = await client(t, { clientId: 'k-pub' })
  for (let i = 0; i < 3; i++) await pub.publishAsync(`k/${i}`, `x${i}`, { qos: 1 })
  for (const sub of subs) await sub.waitFor(3, 5000)
  await probe(pub, 'k/probe', subs, 5000)
  t.same(subs.map((s) => s.messages.length), [3, 3, 3, 3], 'every subscriber got each message once')
})

/** PUT of the management API, JSON, on a connection of its own. */
function apiPut (b: Workers, path: string, json: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = JSON.stringify(json)
    const req = httpRequest({ method: 'PUT', host: '127.0.0.1', port: b.http, path, agent: false, timeout: 3000, headers: { authorization: basic(ADMIN), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode!))
    })
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body)
  })
}

t.test('authorization settings changed through the API apply on every worker', async (t) => {
  const publish = (c: MqttClient) => new Promise<number>((resolve) => c.publish('authz/x', 'x', { qos: 1 }, (err) => resolve((err as { code?: number } | undefined)?.code ?? 0)))
  const clients = [await client(t, { clientId: 'authz-1' }), await client(t, { clientId: 'authz-2' }), await client(t, { clientId: 'authz-3' })]
  t.same(await Promise.all(clients.map(publish)), [0, 0, 0], 'no sources, no_match = allow')
  const settings = (noMatch: string) => ({ no_match: noMatch, deny_action: 'ignore', cache: { enable: true, max_size: 32, ttl: '1m', excludes: [] } })
  t.equal(await apiPut(main, '/api/v5/authorization/settings', settings('deny')), 200)
  t.teardown(() => apiPut(main, '/api/v5/authorization/settings', settings('allow')))
  await until(async () => (await logLines(main.log)).some((l) => l.msg === 'cluster: authorization settings changed on another node'), 'the other worker to hear of it')
  t.same(await Promise.all(clients.map(publish)), [0x87, 0x87, 0x87], 'clients on both workers are denied at their next PUBLISH')
})

t.test('SIGHUP is passed on to the workers, which keep running', async (t) => {
  const pids = await childrenOf(main.primary.pid!)
  main.primary.kill('SIGHUP')
  // Nothing tells when the workers have handled it (no TLS listener to reload): give a dying one time to be seen.
  await delay(300)
  t.same(await childrenOf(main.primary.pid!), pids, 'the same worker processes')
  const c = await client(t, { clientId: 'after-hup' })
  t.ok(c.connected)
})

t.test('SIGTERM to the primary stops every worker and exits 0', async (t) => {
  const pids = await childrenOf(main.primary.pid!)
  t.equal(pids.length, 2)
  const exited = new Promise<[number | null, string | null]>((resolve) => main.primary.once('exit', (code, signal) => resolve([code, signal])))
  const before = (await logLines(main.log)).length
  main.primary.kill('SIGTERM')
  const result = await Promise.race([exited, delay(30_000).then(() => null)])
  t.same(result, [0, null], 'the primary exited with code 0')
  for (const pid of pids) t.notOk(await alive(pid), `worker ${pid} is gone`)
  // A worker hearing that the other stopped must not take the common stop for a failure of its own.
  const alarms = (await logLines(main.log)).slice(before).filter((l) => Number(l.level) >= 40) // pino's warning and above
  t.same(alarms.map((l) => l.msg), [], 'nothing at warning or above while they stop')
})

t.test('the workers exit when their primary is killed', async (t) => {
  const other = await startWorkers('orphans')
  brokers.push(other)
  const pids = await childrenOf(other.primary.pid!)
  t.equal(pids.length, 2)
  other.primary.kill('SIGKILL')
  await until(async () => !(await Promise.all(pids.map(alive))).some(Boolean), 'both workers exited', 15_000)
  t.pass('no worker left')
})

/** `culex start -c FILE` on that HOCON; the exit code and stderr, or null when it ran past 30 s. */
async function runCli (t: Teardown, name: string, hocon: string): Promise<{ code: number | null, stderr: string } | null> {
  const file = join(dir, `${name}.hocon`)
  await writeFile(file, hocon)
  const child = spawnNodeOwned(t, ['--import=tsx', 'src/broker.ts', '-c', file], { cwd: REPO_ROOT, stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (c: Buffer) => { stderr += String(c) })
  const code = new Promise<number | null>((resolve) => child.once('close', resolve))
  const result = await Promise.race([code, delay(30_000).then(() => 'timeout' as const)])
  if (result === 'timeout') { killGroup(child); return null }
  return { code: result, stderr }
}

t.test('node.workers: invalid values and cluster.backend = redis refuse to start', async (t) => {
  t.throws(() => loadConfig({ config: 'node.workers = 0', env: {} }), { code: 'CULEX_ERR_CONFIG_INVALID', message: /node\.workers/ })
  t.throws(() => loadConfig({ config: 'node.workers = "many"', env: {} }), { code: 'CULEX_ERR_CONFIG_INVALID', message: /node\.workers/ })
  t.equal(loadConfig({ config: 'node.workers = auto', env: {} }).config.node.workers, 'auto')

  const port = await freePort()
  const common = `node.data_dir = "${join(dir, 'refused')}"
listeners.tcp.default.bind = "127.0.0.1:${port}"
listeners.ssl.default.enable = false
listeners.ws.default.enable = false
listeners.wss.default.enable = false
dashboard.listeners.http.enable = false
`
  const [zero, redis] = await Promise.all([
    runCli(t, 'zero', `node.workers = 0\n${common}`),
    runCli(t, 'redis', `node.workers = 2\ncluster.backend = redis\ncluster.redis.servers = "127.0.0.1:1"\n${common}`),
  ])
  t.ok(zero, 'node.workers = 0: the CLI exits')
  t.equal(zero?.code, 2, 'a config error')
  t.match(zero?.stderr, /node\.workers/)
  t.ok(redis, 'node.workers = 2 with cluster.backend = redis: the CLI exits')
  t.equal(redis?.code, 2, 'a config error')
  t.match(redis?.stderr, /node\.workers > 1 cannot be combined with cluster\.backend = redis/)
})

t.test('a worker that cannot start (its port in use) stops the start-up instead of hanging', async (t) => {
  const taken = createServer()
  taken.listen(0, '127.0.0.1')
  await once(taken, 'listening')
  t.teardown(() => { taken.close() })
  const port = (taken.address() as AddressInfo).port
  const result = await runCli(t, 'in-use', `node.workers = 2
node.data_dir = "${join(dir, 'in-use')}"
listeners.tcp.default.bind = "127.0.0.1:${port}"
listeners.ssl.default.enable = false
listeners.ws.default.enable = false
listeners.wss.default.enable = false
dashboard.listeners.http.enable = false
`)
  t.ok(result, 'the CLI exits')
  t.equal(result?.code, 1)
  t.match(result?.stderr, /EADDRINUSE/)
  t.match(result?.stderr, /exited during start-up/)
})
