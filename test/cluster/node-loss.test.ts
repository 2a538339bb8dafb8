// Node loss in a Redis cluster: persistent sessions are kept in Redis (record, and the queue while the
// client is offline), so when their node dies or stops another node continues them: their
// subscriptions keep collecting QoS 1 messages and the client finds its session wherever it reconnects.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { IClientOptions } from 'mqtt'
import t from 'tap'
import { pack } from '../../src/cluster/codec.js'
import { connectClient, connectCollecting, end, freePort } from '../helpers.js'
import { hasRedis, redisClient, spawnNode, startNode, startRedis, until } from './redis-helpers.js'

/** MQTT 5 unless given; messages collected from before the CONNACK, which gives Session Present. */
const connectAs = (port: number, opts: IClientOptions) => connectCollecting(port, { protocolVersion: 5, ...opts })

const persistent = (clientId: string): IClientOptions => ({ clientId, clean: false, properties: { sessionExpiryInterval: 600 } })

if (!hasRedis) {
  t.plan(0, 'redis-server not installed')
} else {
  const { servers, port: redisPort } = await startRedis(t)

  t.test('a node killed with SIGKILL: another node continues its persistent sessions', async (t) => {
    const prefix = 'loss1'
    const redis = redisClient(t, redisPort)
    const dir = await mkdtemp(join(tmpdir(), 'culex-loss-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const [portA, portB] = [await freePort(), await freePort()]
    const [nodeA] = await Promise.all([spawnNode(t, dir, 'a@proc', portA, servers, prefix), spawnNode(t, dir, 'b@proc', portB, servers, prefix)])

    const x = await connectAs(portA, persistent('x'))
    await x.client.subscribeAsync('loss/#', { qos: 1 })
    await end(x.client)
    const pub = await connectClient(portB, { clientId: 'pub', protocolVersion: 5 })
    t.teardown(() => end(pub, true))
    for (let i = 1; i <= 3; i++) await pub.publishAsync(`loss/${i}`, `m${i}`, { qos: 1 })
    await until('A to keep the queue in Redis', async () => (await redis.llen(`${prefix}:queue:x`)) === 3)

    const killed = new Promise((resolve) => nodeA.once('exit', resolve))
    nodeA.kill('SIGKILL')
    await killed
    await until('B to adopt the session of the dead node', async () => (await redis.hget(`${prefix}:clients`, 'x')) === 'b@proc', 5000)
    // B claims the client before it has installed the session's subscriptions: a probe queued for the offline
    // session (B mirrors its queue into Redis) says they are in place.
    await until('B to queue for the adopted session', async () => {
      await pub.publishAsync('loss/probe', 'probe', { qos: 1 })
      return (await redis.llen(`${prefix}:queue:x`)) > 3
    })
    for (let i = 4; i <= 6; i++) await pub.publishAsync(`loss/${i}`, `m${i}`, { qos: 1 })

    const back = await connectAs(portB, persistent('x'))
    t.teardown(() => end(back.client, true))
    t.equal(back.sessionPresent, true, 'B answers Session Present')
    await until('the six messages', () => back.got.messages.filter((m) => m.topic !== 'loss/probe').length >= 6)
    t.same(back.got.messages.filter((m) => m.topic !== 'loss/probe').map((m) => m.payload.toString()), ['m1', 'm2', 'm3', 'm4', 'm5', 'm6'],
      'messages queued on A before it died and those published after B adopted the session, in order')
    t.equal(await redis.llen(`${prefix}:queue:x`), 0, 'the queue kept in Redis is emptied once the client is back')
  })

  t.test('a node stopped cleanly: a running node continues its persistent sessions, queues included', async (t) => {
    const prefix = 'loss2'
    const redis = redisClient(t, redisPort)
    const a = await startNode(t, 'a@test', servers, prefix)
    const b = await startNode(t, 'b@test', servers, prefix)
    const online = await connectAs(a.tcpPort, persistent('online'))
    await online.client.subscribeAsync('stop/#', { qos: 1 })
    const offline = await connectAs(a.tcpPort, persistent('offline'))
    await offline.client.subscribeAsync('stop/#', { qos: 1 })
    await end(offline.client)
    const transient = await connectClient(a.tcpPort, { clientId: 'transient' })
    const pub = await connectClient(b.tcpPort, { clientId: 'pub' })
    t.teardown(() => Promise.all([online.client, transient, pub].map((c) => end(c, true))))
    await pub.publishAsync('stop/1', 'one', { qos: 1 })
    await online.got.waitFor(1)
    await until('A to queue for the offline session', async () => (await redis.llen(`${prefix}:queue:offline`)) === 1)

    await a.close()
    await until('B to hold both persistent sessions', () => b.broker.core.sessions.get('online') !== undefined && b.broker.core.sessions.get('offline') !== undefined)
    t.equal(await redis.hget(`${prefix}:clients`, 'transient'), null, 'a clean session is released, not adopted')
    await pub.publishAsync('stop/2', 'two', { qos: 1 })

    const offlineBack = await connectAs(b.tcpPort, persistent('offline'))
    const onlineBack = await connectAs(b.tcpPort, persistent('online'))
    t.teardown(() => Promise.all([offlineBack.client, onlineBack.client].map((c) => end(c, true))))
    t.ok(offlineBack.sessionPresent && onlineBack.sessionPresent, 'both find their session on B')
    await offlineBack.got.waitFor(2)
    await onlineBack.got.waitFor(1)
    t.same(offlineBack.got.messages.map((m) => m.payload.toString()), ['one', 'two'], 'the offline client gets what A queued and what B collected')
    t.same(onlineBack.got.messages.map((m) => m.payload.toString()), ['two'], 'the client connected at the stop gets what came after it')
    t.ok(b.logs.some((l) => l.msg === 'cluster: persistent sessions of a stopped node continued on this node' && l.sessions === 2), 'B says what it adopted')
  })

  t.test('a client of a dead node that nobody adopted: the node it reconnects to continues the session from Redis', async (t) => {
    const prefix = 'loss3'
    const redis = redisClient(t, redisPort)
    const a = await startNode(t, 'a@test', servers, prefix)
    // What a node that died without any other running would have left.
    await redis.hset(`${prefix}:clients`, 'left', 'gone@test')
    await redis.hset(`${prefix}:sessions`, 'left', pack({
      clientId: 'left', expiryInterval: 600, disconnectedAt: Date.now() - 1000,
      subscriptions: [['left/#', { qos: 1, nl: false, rap: false, rh: 0, id: 0 }]],
    }))
    await redis.rpush(`${prefix}:queue:left`, pack({
      topic: 'left/1', payload: Buffer.from('kept'), publishedQos: 1, qos: 1, retain: false, properties: undefined, expiresAt: 0, origin: 'someone', subIds: undefined,
    }))
    const left = await connectAs(a.tcpPort, persistent('left'))
    t.teardown(() => end(left.client, true))
    t.equal(left.sessionPresent, true, 'Session Present')
    await left.got.waitFor(1)
    t.same(left.got.messages.map((m) => [m.topic, m.payload.toString()]), [['left/1', 'kept']], 'the queue kept in Redis is delivered')
    const pub = await connectClient(a.tcpPort, { clientId: 'pub' })
    t.teardown(() => end(pub, true))
    await pub.publishAsync('left/2', 'new', { qos: 1 })
    await left.got.waitFor(2)
    t.equal(left.got.messages[1]!.payload.toString(), 'new', 'its subscription came along')
    t.equal(await redis.hget(`${prefix}:clients`, 'left'), 'a@test', 'the client now belongs to A')

    await redis.hset(`${prefix}:clients`, 'expired', 'gone@test')
    await redis.hset(`${prefix}:sessions`, 'expired', pack({ clientId: 'expired', expiryInterval: 1, disconnectedAt: Date.now() - 5000, subscriptions: [] }))
    const expired = await connectAs(a.tcpPort, persistent('expired'))
    t.teardown(() => end(expired.client, true))
    t.equal(expired.sessionPresent, false, 'a session whose expiry passed meanwhile is not continued')
  })
}
