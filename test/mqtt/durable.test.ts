// Durable storage (durable_storage.backend = lmdb): persistent sessions with their subscriptions and
// queued QoS 1/2 messages, and retained messages, survive a restart and a SIGKILL; a clean session
// leaves nothing behind.
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { collect, connectClient, connectCollecting, delay, end, freePort, spawnBrokerProcess, startBroker, tcpOnlyHocon } from '../helpers.js'

async function dataDir (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'culex-durable-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const durable = (dir: string, port = 0) => ({
  node: { data_dir: dir },
  durable_storage: { backend: 'lmdb' },
  listeners: { tcp: { default: { bind: `127.0.0.1:${port}` } } },
})

t.test('a persistent session keeps its subscription and queued messages across a restart', async (t) => {
  const dir = await dataDir(t)
  const first = await startBroker(durable(dir))
  const sub = await connectClient(first.tcpPort, { clientId: 'keeper', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } })
  await sub.subscribeAsync('d/#', { qos: 1 })
  await sub.subscribeAsync('q2/#', { qos: 2 })
  await end(sub)
  const pub = await connectClient(first.tcpPort, { clientId: 'pub' })
  for (let i = 0; i < 5; i++) await pub.publishAsync(`d/${i}`, `m${i}`, { qos: 1 })
  await pub.publishAsync('q2/x', 'exactly-once', { qos: 2 })
  await pub.publishAsync('r/kept', 'retained', { qos: 1, retain: true })
  await end(pub)
  await first.close()

  const second = await startBroker(durable(dir))
  t.teardown(() => second.close())
  t.match(second.logs.find((l) => l.msg === 'persistent sessions and retained messages restored'), { sessions: 1, messages: 6, retained: 1 })
  const { client: back, got } = await connectCollecting(second.tcpPort, { clientId: 'keeper', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 3600 } })
  t.teardown(() => end(back, true))
  await got.waitFor(6)
  t.same(got.messages.map((m) => m.payload.toString()), ['m0', 'm1', 'm2', 'm3', 'm4', 'exactly-once'], 'queued messages arrive in order after the restart')
  t.ok(back.connected, 'session present')
  const pub2 = await connectClient(second.tcpPort, { clientId: 'pub2' })
  t.teardown(() => end(pub2, true))
  await pub2.publishAsync('d/after', 'live', { qos: 1 })
  await got.waitFor(7)
  t.equal(got.messages[6]!.topic, 'd/after', 'the restored subscription routes new messages')
  const reader = await connectClient(second.tcpPort, { clientId: 'reader' })
  t.teardown(() => end(reader, true))
  const retained = collect(reader)
  await reader.subscribeAsync('r/#', { qos: 1 })
  await retained.waitFor(1)
  t.equal(retained.messages[0]!.payload.toString(), 'retained', 'the retained message survived')
})

t.test('delivered messages are not delivered again; a clean session leaves nothing stored', async (t) => {
  const dir = await dataDir(t)
  const first = await startBroker(durable(dir))
  const sub = await connectClient(first.tcpPort, { clientId: 'acker', clean: false })
  await sub.subscribeAsync('a/#', { qos: 1 })
  const got = collect(sub)
  const pub = await connectClient(first.tcpPort, { clientId: 'pub' })
  for (let i = 0; i < 3; i++) await pub.publishAsync(`a/${i}`, `x${i}`, { qos: 1 })
  await got.waitFor(3)
  // The PUBACKs have reached the broker once nothing is in flight to the subscriber any more.
  const deadline = Date.now() + 5000
  while ((first.broker.core.sessions.get('acker')?.inflight.size ?? 0) > 0 && Date.now() < deadline) await delay(10)
  await end(sub)
  const clean = await connectClient(first.tcpPort, { clientId: 'ephemeral', clean: true })
  await clean.subscribeAsync('a/#', { qos: 1 })
  await end(clean)
  await end(pub)
  await first.close()

  const second = await startBroker(durable(dir))
  t.teardown(() => second.close())
  t.match(second.logs.find((l) => l.msg === 'persistent sessions and retained messages restored'), { sessions: 1, messages: 0 })
  t.notOk(second.broker.core.sessions.get('ephemeral'), 'the clean session was not stored')
  const { client: back, got: again } = await connectCollecting(second.tcpPort, { clientId: 'acker', clean: false })
  t.teardown(() => end(back, true))
  // A message published now arrives after anything the session still held.
  const probe = await connectClient(second.tcpPort, { clientId: 'probe' })
  t.teardown(() => end(probe, true))
  await probe.publishAsync('a/probe', 'after', { qos: 1 })
  await again.waitFor(1)
  t.same(again.messages.map((m) => m.topic), ['a/probe'], 'acknowledged messages are gone from the store')
})

t.test('the broker\'s own $SYS messages are retained in memory only, not kept on disk', async (t) => {
  const dir = await dataDir(t)
  const first = await startBroker({ ...durable(dir), sys_topics: { sys_msg_interval: '1m', sys_heartbeat_interval: '30s' } })
  const reader = await connectClient(first.tcpPort, { clientId: 'reader' })
  const sys = collect(reader)
  await reader.subscribeAsync('$SYS/brokers/+/uptime', { qos: 0 })
  await sys.waitFor(1)
  t.ok(sys.messages[0]!.packet.retain, '$SYS uptime is a retained message')
  const pub = await connectClient(first.tcpPort, { clientId: 'pub' })
  await pub.publishAsync('r/kept', 'retained', { qos: 1, retain: true })
  await end(pub)
  await end(reader)
  t.ok(first.broker.core.retained.size > 1, 'the $SYS messages and r/kept are retained while it runs')
  await first.close()

  const second = await startBroker(durable(dir))
  t.teardown(() => second.close())
  t.match(second.logs.find((l) => l.msg === 'persistent sessions and retained messages restored'), { retained: 1 })
  t.same((second.broker.core.retained.all?.() ?? []).map((m) => m.topic), ['r/kept'], 'only the client\'s retained message came back')
})

/** A broker process on the durable store, killed with SIGKILL by the test. */
function spawnBroker (t: { teardown: (fn: () => unknown) => void }, dir: string, port: number): Promise<ChildProcess> {
  return spawnBrokerProcess(t, join(dir, 'culex.hocon'), tcpOnlyHocon(join(dir, 'data'), port), port)
}

t.test('SIGKILL loses no acknowledged QoS 1 message', async (t) => {
  const dir = await dataDir(t)
  const port = await freePort()
  const first = await spawnBroker(t, dir, port)
  const sub = await connectClient(port, { clientId: 'survivor', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } })
  await sub.subscribeAsync('k/#', { qos: 1 })
  await end(sub)
  const pub = await connectClient(port, { clientId: 'pub', protocolVersion: 5 })
  const count = 200
  // Published concurrently, so many writes share a commit; each PUBACK says its message is on disk.
  const acked = await Promise.all(Array.from({ length: count }, (_, i) => pub.publishAsync(`k/${i}`, String(i), { qos: 1 }).then(() => i)))
  t.equal(acked.length, count, `${count} PUBACKs received`)
  first.kill('SIGKILL')
  await new Promise((resolve) => first.once('exit', resolve))
  await end(pub, true)

  await spawnBroker(t, dir, port)
  const { client: back, got } = await connectCollecting(port, { clientId: 'survivor', protocolVersion: 5, clean: false, properties: { sessionExpiryInterval: 600 } })
  t.teardown(() => end(back, true))
  await got.waitFor(count)
  const seen = new Set(got.messages.map((m) => Number(m.payload.toString())))
  t.equal(seen.size, count, 'every acknowledged message is delivered after the restart')
})
