// A Redis-backed cluster (cluster.backend = redis): messages, retained messages, session takeover,
// kicks and bans across nodes, node names and liveness. Two or three in-process nodes share one
// throwaway redis-server; each test uses its own key prefix, so tests do not see each other.
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IClientOptions, MqttClient } from 'mqtt'
import t from 'tap'
import { collect, connectClient, connectCollecting, delay, end, freePort, ping, probe, rawConnect, startBroker } from '../helpers.js'
import { call } from '../api/api-helpers.js'
import { clusterConfig, hasRedis, redisClient, spawnNode, startNode, startRedis, until } from './redis-helpers.js'

const API = { dashboard: { listeners: { http: { enable: true, bind: '127.0.0.1:0' } } } }

let prefixes = 0
const nextPrefix = () => `t${++prefixes}`

/** MQTT 5 unless given; messages collected from before the CONNACK, which gives Session Present. */
const connectAs = (port: number, opts: IClientOptions) => connectCollecting(port, { protocolVersion: 5, ...opts })

/** What the connection heard when it was closed: the DISCONNECT reason code (MQTT 5), or null. */
function closedWith (client: MqttClient): Promise<number | null> {
  let reason: number | null = null
  client.on('disconnect', (packet) => { reason = packet.reasonCode ?? 0 })
  return new Promise((resolve) => client.once('close', () => resolve(reason)))
}

if (!hasRedis) {
  t.plan(0, 'redis-server not installed')
} else {
  const { servers, port: redisPort } = await startRedis(t)

  t.test('a will published when a client on one node goes away reaches subscribers on another', async (t) => {
    const prefix = nextPrefix()
    const a = await startNode(t, 'a@will', servers, prefix)
    const b = await startNode(t, 'b@will', servers, prefix)
    const sub = await connectClient(b.tcpPort, { clientId: 'watcher' })
    t.teardown(() => end(sub, true))
    const got = collect(sub)
    await sub.subscribeAsync('status/#', { qos: 1 })
    const mortal = await connectClient(a.tcpPort, { clientId: 'mortal', will: { topic: 'status/mortal', payload: Buffer.from('gone'), qos: 1, retain: false } })
    ;(mortal.stream as unknown as { destroy: () => void }).destroy()
    await got.waitFor(1)
    t.equal(got.messages[0]!.topic, 'status/mortal')
    t.equal(got.messages[0]!.payload.toString(), 'gone', 'the will crossed to the other node')
  })

  t.test('a message published on one node reaches subscribers on the others, each once', async (t) => {
    const prefix = nextPrefix()
    const a = await startNode(t, 'a@test', servers, prefix)
    const b = await startNode(t, 'b@test', servers, prefix)
    const subA = await connectClient(a.tcpPort, { clientId: 'sub-a' })
    const subB = await connectClient(b.tcpPort, { clientId: 'sub-b' })
    const pub = await connectClient(a.tcpPort, { clientId: 'pub-a' })
    const pubB = await connectClient(b.tcpPort, { clientId: 'pub-b' })
    t.teardown(() => Promise.all([subA, subB, pub, pubB].map((c) => end(c, true))))
    const gotA = collect(subA)
    const gotB = collect(subB)
    await subA.subscribeAsync('x/#', { qos: 1 })
    await subB.subscribeAsync('x/#', { qos: 1 })
    await pub.publishAsync('x/0', 'zero', { qos: 0 })
    await pub.publishAsync('x/1', 'one', { qos: 1 })
    await pubB.publishAsync('x/2', 'from b', { qos: 1 })
    await gotA.waitFor(3)
    await gotB.waitFor(3)
    // A node's messages reach every node, itself included, over one Redis connection in order: a probe from
    // each publisher comes after any second copy of what it published before.
    await probe(pub, 'x/probe', [gotA, gotB])
    await probe(pubB, 'x/probe', [gotA, gotB])
    const seen = (got: typeof gotA) => got.messages.map((m) => [m.topic, m.payload.toString(), m.packet.qos]).sort()
    const expected = [['x/0', 'zero', 0], ['x/1', 'one', 1], ['x/2', 'from b', 1]]
    t.same(seen(gotB), expected, 'QoS 0 and QoS 1 messages published on A reach B, and B\'s reach B once')
    t.same(seen(gotA), expected, 'A delivers its own messages once (not again from Redis) and B\'s too')
  })

  t.test('retainer.stop_publish_clear_msg: a clearing PUBLISH on B, kept off the bus, still clears A\'s copy', async (t) => {
    const prefix = nextPrefix()
    const config = { retainer: { stop_publish_clear_msg: true } }
    const a = await startNode(t, 'a@test', servers, prefix, config)
    const b = await startNode(t, 'b@test', servers, prefix, config)
    const pubA = await connectClient(a.tcpPort, { clientId: 'spc-pub-a' })
    const pubB = await connectClient(b.tcpPort, { clientId: 'spc-pub-b' })
    t.teardown(() => Promise.all([pubA, pubB].map((c) => end(c, true))))
    /** The topics a new subscriber to spc/# on `node` gets retained now. */
    const retainedOn = async (node: typeof a) => {
      const reader = await connectClient(node.tcpPort)
      const got = collect(reader)
      await reader.subscribeAsync('spc/#', { qos: 1 })
      await ping(reader) // retained messages go out right behind the SUBACK
      await end(reader, true)
      return got.messages.map((m) => m.topic).sort()
    }
    await pubA.publishAsync('spc/x', 'x', { qos: 1, retain: true })
    await until('B to hold spc/x', async () => (await retainedOn(b)).includes('spc/x'))
    await pubB.publishAsync('spc/x', '', { qos: 1, retain: true })
    await pubB.publishAsync('spc/y', 'y', { qos: 1, retain: true })
    await until('A to hold spc/y and no longer spc/x', async () => (await retainedOn(a)).join() === 'spc/y')
    t.same(await retainedOn(a), ['spc/y'], 'cleared on B, gone on A')
  })

  t.test('retained messages are shared: set on A, seen and cleared on B, loaded by a node that starts later', async (t) => {
    const prefix = nextPrefix()
    const redis = redisClient(t, redisPort)
    const a = await startNode(t, 'a@test', servers, prefix)
    const b = await startNode(t, 'b@test', servers, prefix)
    const watchA = await connectClient(a.tcpPort, { clientId: 'watch-a' })
    const watchB = await connectClient(b.tcpPort, { clientId: 'watch-b' })
    const pubA = await connectClient(a.tcpPort, { clientId: 'pub-a' })
    const pubB = await connectClient(b.tcpPort, { clientId: 'pub-b' })
    t.teardown(() => Promise.all([watchA, watchB, pubA, pubB].map((c) => end(c, true))))
    const liveA = collect(watchA)
    const liveB = collect(watchB)
    await watchA.subscribeAsync('r/#', { qos: 1 })
    await watchB.subscribeAsync('r/#', { qos: 1 })

    await pubA.publishAsync('r/1', 'first', { qos: 1, retain: true })
    await pubA.publishAsync('r/2', 'second', { qos: 1, retain: true })
    await liveB.waitFor(2)
    const readerB = await connectClient(b.tcpPort, { clientId: 'reader-b' })
    t.teardown(() => end(readerB, true))
    const retainedB = collect(readerB)
    await readerB.subscribeAsync('r/#', { qos: 1 })
    await retainedB.waitFor(2)
    t.same(retainedB.messages.map((m) => [m.topic, m.payload.toString(), m.packet.retain]).sort(),
      [['r/1', 'first', true], ['r/2', 'second', true]], 'a new subscriber on B gets what was retained on A')

    await pubB.publishAsync('r/1', '', { qos: 1, retain: true })
    await liveA.waitFor(3)
    const readerA = await connectClient(a.tcpPort, { clientId: 'reader-a' })
    t.teardown(() => end(readerA, true))
    const retainedA = collect(readerA)
    await readerA.subscribeAsync('r/#', { qos: 1 })
    await retainedA.waitFor(1)
    await ping(readerA) // retained messages go out right behind the SUBACK
    t.same(retainedA.messages.map((m) => m.topic), ['r/2'], 'cleared on B, gone on A')
    t.same(await redis.hkeys(`${prefix}:retained`), ['r/2'], 'Redis keeps what is retained, not what was cleared')

    const c = await startNode(t, 'c@test', servers, prefix)
    const readerC = await connectClient(c.tcpPort, { clientId: 'reader-c' })
    t.teardown(() => end(readerC, true))
    const retainedC = collect(readerC)
    await readerC.subscribeAsync('r/#', { qos: 1 })
    await retainedC.waitFor(1)
    await ping(readerC) // retained messages go out right behind the SUBACK
    t.same(retainedC.messages.map((m) => [m.topic, m.payload.toString()]), [['r/2', 'second']], 'a node started later loads the retained messages from Redis')
  })

  t.test('takeover: a persistent session moves with its queue to the node the client reconnects to', async (t) => {
    const prefix = nextPrefix()
    const a = await startNode(t, 'a@test', servers, prefix)
    const b = await startNode(t, 'b@test', servers, prefix)
    const session = { clientId: 'mover', clean: false, properties: { sessionExpiryInterval: 60 } }

    const first = await connectAs(a.tcpPort, session)
    t.equal(first.sessionPresent, false)
    await first.client.subscribeAsync('q/#', { qos: 1 })
    await end(first.client)
    // The publisher is on B: the messages reach the offline session on A through the bus.
    const witness = await connectClient(a.tcpPort, { clientId: 'witness' })
    const pub = await connectClient(b.tcpPort, { clientId: 'pub' })
    t.teardown(() => Promise.all([witness, pub].map((c) => end(c, true))))
    const seen = collect(witness)
    await witness.subscribeAsync('q/#', { qos: 1 })
    await pub.publishAsync('q/1', 'one', { qos: 1 })
    await pub.publishAsync('q/2', 'two', { qos: 1 })
    await seen.waitFor(2)

    const onB = await connectAs(b.tcpPort, session)
    t.teardown(() => end(onB.client, true))
    t.equal(onB.sessionPresent, true, 'B answers Session Present: the session came from A')
    await onB.got.waitFor(2)
    t.same(onB.got.messages.map((m) => m.payload.toString()), ['one', 'two'], 'messages queued on A while the client was away are delivered on B')
    // Both acknowledged before the next move, or 'two' would rightly come again.
    await until('B to have the PUBACKs', () => b.broker.core.sessions.get('mover')?.inflight.size === 0)
    t.notOk(a.logs.some((l) => l.msg === 'publishing will'), 'no will on the move')

    const bClosed = closedWith(onB.client)
    const backOnA = await connectAs(a.tcpPort, session)
    t.teardown(() => end(backOnA.client, true))
    t.equal(await bClosed, 0x8e, 'the connection on B gets DISCONNECT 0x8E Session taken over')
    t.equal(backOnA.sessionPresent, true, 'and the session comes back to A')
    await pub.publishAsync('q/3', 'three', { qos: 1 })
    await backOnA.got.waitFor(1)
    await backOnA.got.probe(pub, 'q/probe') // published on B after 'three': a second copy would be ahead of it
    t.same(backOnA.got.messages.map((m) => m.payload.toString()), ['three'], 'the moved subscription routes new messages, once')
  })

  t.test('takeover of an MQTT 3.1.1 client closes it; Clean Start ends the session on the other node', async (t) => {
    const prefix = nextPrefix()
    const a = await startNode(t, 'a@test', servers, prefix)
    const b = await startNode(t, 'b@test', servers, prefix)

    const v4 = await connectAs(a.tcpPort, { clientId: 'old-style', protocolVersion: 4, clean: false })
    await v4.client.subscribeAsync('v/#', { qos: 1 })
    const v4Closed = closedWith(v4.client)
    const v4OnB = await connectAs(b.tcpPort, { clientId: 'old-style', protocolVersion: 4, clean: false })
    t.teardown(() => end(v4OnB.client, true))
    t.equal(await v4Closed, null, 'MQTT 3.1.1: the connection on A is closed without DISCONNECT')
    t.equal(v4OnB.sessionPresent, true, 'B resumes the session')

    const { raw, connack } = await rawConnect(a.tcpPort, 5, { clientId: 'fresh', clean: false, properties: { sessionExpiryInterval: 60 } })
    t.teardown(() => raw.socket.destroy())
    t.equal(connack.sessionPresent, false)
    const clean = await connectAs(b.tcpPort, { clientId: 'fresh', clean: true })
    t.teardown(() => end(clean.client, true))
    t.equal((await raw.take('disconnect')).reasonCode, 0x8e, 'the connection on A gets DISCONNECT 0x8E')
    t.equal(clean.sessionPresent, false, 'Clean Start: a fresh session on B')
    await until('the session to end on A', () => a.broker.core.sessions.get('fresh') === undefined)
    t.pass('the session on A ended')
  })

  t.test('a client whose node is not running gets a fresh session at once', async (t) => {
    const prefix = nextPrefix()
    const redis = redisClient(t, redisPort)
    const a = await startNode(t, 'a@test', servers, prefix)
    await redis.hset(`${prefix}:clients`, 'orphan', 'gone@test')
    const orphan = await connectAs(a.tcpPort, { clientId: 'orphan', clean: false, properties: { sessionExpiryInterval: 60 } })
    t.teardown(() => end(orphan.client, true))
    t.equal(orphan.sessionPresent, false)
    t.ok(a.logs.some((l) => l.msg === 'cluster: the node that held the session is not running; starting a fresh session' && l.node === 'gone@test'),
      'the stopped node is not waited for')
    await until('the client id to name A', async () => (await redis.hget(`${prefix}:clients`, 'orphan')) === 'a@test')
    t.pass('the client now belongs to A')
  })

  t.test('a running node that does not answer is waited for a bounded time, then the session starts fresh', async (t) => {
    const prefix = nextPrefix()
    const redis = redisClient(t, redisPort)
    const a = await startNode(t, 'a@test', servers, prefix)
    // A node that holds its name (so it counts as running) but never answers its control channel.
    await redis.set(`${prefix}:node:mute@test`, 'token', 'PX', 10_000)
    await redis.hset(`${prefix}:clients`, 'waiting', 'mute@test')
    const waiting = await connectAs(a.tcpPort, { clientId: 'waiting', clean: false, properties: { sessionExpiryInterval: 60 } })
    t.teardown(() => end(waiting.client, true))
    t.equal(waiting.sessionPresent, false, 'a fresh session')
    t.ok(a.logs.some((l) => l.level === 40 && typeof l.msg === 'string' && l.msg.startsWith('cluster: the node holding the session did not answer')),
      'a warning names the silent node')
  })

  t.test('the API of one node kicks a client connected to another', async (t) => {
    const prefix = nextPrefix()
    const a = await startNode(t, 'a@test', servers, prefix)
    const b = await startNode(t, 'b@test', servers, prefix, API)
    const base = `http://127.0.0.1:${b.broker.apiPort()}`
    const victim = await connectAs(a.tcpPort, { clientId: 'victim' })
    const closed = closedWith(victim.client)
    const kicked = await call(base, '/api/v5/clients/victim', { method: 'DELETE' })
    t.equal(kicked.status, 204)
    t.equal(await closed, 0x98, 'the client on A gets DISCONNECT 0x98 Administrative action')
    t.equal((await call(base, '/api/v5/clients/victim', { method: 'DELETE' })).status, 404, 'then it is nowhere')
    t.equal((await call(base, '/api/v5/clients/nobody', { method: 'DELETE' })).status, 404)
  })

  t.test('a ban added on one node disconnects and refuses the client on every node; removing it there lifts it', async (t) => {
    const prefix = nextPrefix()
    const a = await startNode(t, 'a@test', servers, prefix, API)
    const b = await startNode(t, 'b@test', servers, prefix)
    const base = `http://127.0.0.1:${a.broker.apiPort()}`
    const bad = await connectAs(b.tcpPort, { clientId: 'bad' })
    const closed = closedWith(bad.client)
    const added = await call(base, '/api/v5/banned', { method: 'POST', json: { as: 'clientid', who: 'bad', reason: 'test' } })
    t.equal(added.status, 200)
    t.equal(await closed, 0x98, 'the client on B is disconnected')
    await t.rejects(connectClient(b.tcpPort, { clientId: 'bad', protocolVersion: 5 }), { code: 0x8a }, 'B refuses it: 0x8A Banned')
    const c = await startNode(t, 'c@test', servers, prefix)
    await t.rejects(connectClient(c.tcpPort, { clientId: 'bad', protocolVersion: 5 }), { code: 0x8a }, 'a node started later knows the ban')

    t.equal((await call(base, '/api/v5/banned/clientid/bad', { method: 'DELETE' })).status, 204)
    await until('B to lift the ban', () => b.broker.core.banned.size === 0 && c.broker.core.banned.size === 0)
    const back = await connectClient(b.tcpPort, { clientId: 'bad', protocolVersion: 5 })
    t.teardown(() => end(back, true))
    t.ok(back.connected, 'B accepts it again')
  })

  t.test('GET /api/v5/nodes lists the nodes; a node that stopped shows stopped', async (t) => {
    const prefix = nextPrefix()
    const a = await startNode(t, 'a@test', servers, prefix, API)
    const b = await startBroker({ node: { name: 'b@test' }, cluster: clusterConfig(servers, prefix) })
    const base = `http://127.0.0.1:${a.broker.apiPort()}`
    const list = await call(base, '/api/v5/nodes')
    t.equal(list.status, 200)
    t.match(list.json, [{ node: 'a@test', node_status: 'running', connections: 0 }, { node: 'b@test', node_status: 'running', version: null }])
    await b.close()
    const after = await call(base, '/api/v5/nodes')
    t.match(after.json, [{ node: 'a@test', node_status: 'running' }, { node: 'b@test', node_status: 'stopped' }], 'a clean stop shows at once')
  })

  t.test('start-up is refused for a node name in use and for an unreachable Redis', async (t) => {
    const prefix = nextPrefix()
    await startNode(t, 'same@test', servers, prefix)
    await t.rejects(startBroker({ node: { name: 'same@test' }, cluster: clusterConfig(servers, prefix) }),
      { code: 'CULEX_ERR_CLUSTER', message: /node\.name same@test is already used by a running node/ })
    const nowhere = `127.0.0.1:${await freePort()}`
    await t.rejects(startBroker({ node: { name: 'lonely@test' }, cluster: clusterConfig(nowhere, prefix) }),
      { code: 'CULEX_ERR_CLUSTER', message: `cannot reach Redis at cluster.redis.servers = ${nowhere}` })
  })

  t.test('Redis going away: local clients are served, one warning', async (t) => {
    const own = await startRedis(t)
    const a = await startNode(t, 'a@test', own.servers, nextPrefix())
    const sub = await connectClient(a.tcpPort, { clientId: 'sub' })
    const pub = await connectClient(a.tcpPort, { clientId: 'pub' })
    t.teardown(() => Promise.all([sub, pub].map((c) => end(c, true))))
    const got = collect(sub)
    await sub.subscribeAsync('l/#', { qos: 1 })
    await own.stop()
    for (let i = 0; i < 5; i++) await pub.publishAsync(`l/${i}`, String(i), { qos: 1 })
    await got.waitFor(5)
    t.equal(got.messages.length, 5, 'messages still flow between local clients')
    const late = await connectAs(a.tcpPort, { clientId: 'late', clean: false, properties: { sessionExpiryInterval: 60 } })
    t.teardown(() => end(late.client, true))
    t.ok(late.client.connected, 'CONNECT is not held up by the missing Redis')
    const warnings = (): number => a.logs.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('cluster: Redis is unreachable')).length
    await until('the outage is logged', () => warnings() > 0)
    t.equal(warnings(), 1, 'one warning for the outage')
  })

  const mosquitto = existsSync('/usr/bin/mosquitto_pub') && existsSync('/usr/bin/mosquitto_sub')
  t.test('two broker processes: mosquitto_pub on A reaches mosquitto_sub on B', { skip: mosquitto ? false : 'mosquitto clients not installed' }, async (t) => {
    const prefix = nextPrefix()
    const dir = await mkdtemp(join(tmpdir(), 'culex-cluster-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const [portA, portB] = [await freePort(), await freePort()]
    await Promise.all([spawnNode(t, dir, 'a@proc', portA, servers, prefix), spawnNode(t, dir, 'b@proc', portB, servers, prefix)])
    const sub = spawn('/usr/bin/mosquitto_sub', ['-h', '127.0.0.1', '-p', String(portB), '-t', 'proc/#', '-q', '1', '-C', '1', '-v', '-W', '5'])
    t.teardown(() => { sub.kill('SIGKILL') })
    let out = ''
    sub.stdout.on('data', (c: Buffer) => { out += String(c) })
    let done = false
    const exited = new Promise<number | null>((resolve) => sub.once('close', (code) => { done = true; resolve(code) }))
    // mosquitto_sub subscribes some time after it starts: publish until it has its message (-C 1).
    for (let i = 0; i < 25 && !done; i++) {
      const pub = spawn('/usr/bin/mosquitto_pub', ['-h', '127.0.0.1', '-p', String(portA), '-t', 'proc/hello', '-m', 'across', '-q', '1'])
      await new Promise((resolve) => pub.once('exit', resolve))
      await delay(200) // paces the retries: B is another process, its subscription cannot be watched from here
    }
    t.equal(await exited, 0, 'mosquitto_sub got a message')
    t.equal(out.trim(), 'proc/hello across', 'published on A, received on B')
  })
}
