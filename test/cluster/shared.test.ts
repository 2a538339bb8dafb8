// Shared subscriptions across the nodes of a Redis cluster: one delivery per `$share` group in the
// whole cluster, whichever node accepted the message and wherever the members are.
import mqtt, { type MqttClient } from 'mqtt'
import t from 'tap'
import { collect, connectClient, end, probe } from '../helpers.js'
import { hasRedis, redisClient, startNode, startRedis, until } from './redis-helpers.js'

const N = 20

// Probes across the cluster: a node sends its messages and control notices over one Redis connection, and
// every node hears them over one subscribed connection, in that order. So a probe published on node X and
// received on node Y shows that Y has handled whatever X sent before it: a shared-group notice, or a copy
// of a message (one that X delivers itself went out before the probe too).

/** Publishes `count` QoS 1 messages named `<tag>-<i>`. */
async function publishMany (client: MqttClient, tag: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) await client.publishAsync(`s/${tag}`, `${tag}-${i}`, { qos: 1 })
}

if (!hasRedis) {
  t.plan(0, 'redis-server not installed')
} else {
  const { servers, port: redisPort } = await startRedis(t)

  t.test('a $share group with members on two nodes gets each message once, wherever it was published', async (t) => {
    const prefix = 'sh1'
    const redis = redisClient(t, redisPort)
    const a = await startNode(t, 'a@test', servers, prefix)
    const b = await startNode(t, 'b@test', servers, prefix)
    const memberA = await connectClient(a.tcpPort, { clientId: 'member-a' })
    const memberB = await connectClient(b.tcpPort, { clientId: 'member-b' })
    const pubA = await connectClient(a.tcpPort, { clientId: 'pub-a' })
    const pubB = await connectClient(b.tcpPort, { clientId: 'pub-b' })
    t.teardown(() => Promise.all([memberA, memberB, pubA, pubB].map((c) => end(c, true))))
    const gotA = collect(memberA)
    const gotB = collect(memberB)
    await memberA.subscribeAsync('$share/g/s/#', { qos: 1 })
    await memberB.subscribeAsync('$share/g/s/#', { qos: 1 })
    for (const m of [memberA, memberB]) await m.subscribeAsync('probe/sh1', { qos: 2 })
    const hash = `${prefix}:shared:g/s/#`
    await until('both nodes to record their member', async () => {
      const all = await redis.hgetall(hash)
      return all['a@test'] === '1,1' && all['b@test'] === '1,1'
    })
    // Each node's control notice went out before its Redis write: a probe from each shows the other heard it.
    await probe(a.broker, 'probe/sh1', [gotA, gotB])
    await probe(b.broker, 'probe/sh1', [gotA, gotB])

    await publishMany(pubA, 'a', N)
    await publishMany(pubB, 'b', N)
    const c = await startNode(t, 'c@test', servers, prefix)
    const pubC = await connectClient(c.tcpPort, { clientId: 'pub-c' })
    t.teardown(() => end(pubC, true))
    await publishMany(pubC, 'c', N)
    const total = 3 * N
    await until(`${total} deliveries`, () => gotA.messages.length + gotB.messages.length >= total)
    for (const pub of [pubA, pubB, pubC]) await probe(pub, 'probe/sh1', [gotA, gotB])
    const all = [...gotA.messages, ...gotB.messages].map((m) => m.payload.toString())
    t.equal(all.length, total, 'one delivery per message in the whole cluster')
    t.equal(new Set(all).size, total, 'no message delivered twice, none missing')
    t.equal(gotA.messages.length, 3 * N / 2, 'round robin over the online members: A\'s member gets half')
    t.equal(gotB.messages.length, 3 * N / 2, 'and B\'s the other half')
    t.ok(gotB.messages.some((m) => m.payload.toString().startsWith('a-')), 'messages published on A reach B\'s member')
    t.ok(gotA.messages.some((m) => m.payload.toString().startsWith('c-')), 'a node started later knows the group (from Redis)')

    // B's member leaves (clean session: the subscription goes): A's member gets everything.
    await end(memberB)
    await until('B to record it has no member', async () => (await redis.hget(hash, 'b@test')) === null)
    await gotA.probe(b.broker, 'probe/sh1') // A heard B's notice
    const before = gotA.messages.length
    await publishMany(pubA, 'a2', N)
    await publishMany(pubB, 'b2', N)
    await gotA.waitFor(before + 2 * N)
    for (const pub of [pubA, pubB]) await gotA.probe(pub, 'probe/sh1')
    const after = gotA.messages.slice(before).map((m) => m.payload.toString())
    t.equal(after.length, 2 * N, 'every later message, published on A or on B, goes to the member left')
    t.equal(new Set(after).size, 2 * N, 'each once')
  })

  t.test('an offline persistent member still takes its turn only when no member is online', async (t) => {
    const prefix = 'sh2'
    const redis = redisClient(t, redisPort)
    const a = await startNode(t, 'a@test', servers, prefix)
    const b = await startNode(t, 'b@test', servers, prefix)
    const onlineA = await connectClient(a.tcpPort, { clientId: 'online-a' })
    const sleeper = await connectClient(b.tcpPort, { clientId: 'sleeper', clean: false })
    const pubB = await connectClient(b.tcpPort, { clientId: 'pub-b' })
    t.teardown(() => Promise.all([onlineA, pubB].map((c) => end(c, true))))
    const gotA = collect(onlineA)
    await onlineA.subscribeAsync('$share/w/s/#', { qos: 1 })
    await onlineA.subscribeAsync('probe/sh2/a', { qos: 2 })
    const gotOnB = collect(pubB)
    await pubB.subscribeAsync('probe/sh2/b', { qos: 2 })
    await sleeper.subscribeAsync('$share/w/s/#', { qos: 1 })
    await end(sleeper)
    const hash = `${prefix}:shared:w/s/#`
    await until('B to record its member offline', async () => (await redis.hget(hash, 'b@test')) === '1,0')
    await gotA.probe(b.broker, 'probe/sh2/a') // A heard B's notice
    await publishMany(pubB, 'b', N)
    await gotA.waitFor(N)
    await gotA.probe(pubB, 'probe/sh2/a')
    t.equal(gotA.messages.length, N, 'messages published on B go to the online member on A, not to B\'s offline one')
    t.equal(b.broker.core.sessions.get('sleeper')?.queueLength, 0, 'nothing queued for the offline member')

    await end(onlineA)
    await until('A to record it has no member', async () => (await redis.hget(hash, 'a@test')) === null)
    await gotOnB.probe(a.broker, 'probe/sh2/b') // B heard A's notice
    await publishMany(pubB, 'q', 3)
    await until('the offline member to queue them', () => b.broker.core.sessions.get('sleeper')?.queueLength === 3)
    // Collecting from before CONNACK: the queued messages follow it at once.
    const back = mqtt.connect({ host: '127.0.0.1', port: b.tcpPort, clientId: 'sleeper', clean: false, reconnectPeriod: 0 })
    t.teardown(() => end(back, true))
    const gotBack = collect(back)
    await gotBack.waitFor(3)
    t.same(gotBack.messages.map((m) => m.payload.toString()), ['q-0', 'q-1', 'q-2'], 'with nobody online they wait in the offline member\'s session')
  })

  t.test('sticky with initial pick local: each node sticks to its own member, a node without one picks another node\'s', async (t) => {
    const prefix = 'sh3'
    const redis = redisClient(t, redisPort)
    const config = { mqtt: { shared_subscription_strategy: 'sticky', shared_subscription_initial_sticky_pick: 'local' } }
    const a = await startNode(t, 'a@test', servers, prefix, config)
    const b = await startNode(t, 'b@test', servers, prefix, config)
    const c = await startNode(t, 'c@test', servers, prefix, config)
    const memberA = await connectClient(a.tcpPort, { clientId: 'local-a' })
    const memberB = await connectClient(b.tcpPort, { clientId: 'local-b' })
    const pubA = await connectClient(a.tcpPort, { clientId: 'pub-a' })
    const pubB = await connectClient(b.tcpPort, { clientId: 'pub-b' })
    const pubC = await connectClient(c.tcpPort, { clientId: 'pub-c' })
    t.teardown(() => Promise.all([memberA, memberB, pubA, pubB, pubC].map((x) => end(x, true))))
    const gotA = collect(memberA)
    const gotB = collect(memberB)
    // Ten groups: with a random first pick, all ten landing on the publisher's node would be a 1 in 1024 chance.
    const groups = Array.from({ length: 10 }, (_, k) => k)
    for (const k of groups) {
      await memberA.subscribeAsync(`$share/l${k}/loc/${k}`, { qos: 1 })
      await memberB.subscribeAsync(`$share/l${k}/loc/${k}`, { qos: 1 })
    }
    for (const m of [memberA, memberB]) await m.subscribeAsync('probe/sh3', { qos: 2 })
    await until('both nodes to record their members', async () => {
      for (const k of groups) {
        const all = await redis.hgetall(`${prefix}:shared:l${k}/loc/${k}`)
        if (all['a@test'] !== '1,1' || all['b@test'] !== '1,1') return false
      }
      return true
    })
    for (const node of [a, b]) await probe(node.broker, 'probe/sh3', [gotA, gotB])
    for (const k of groups) {
      for (const [tag, pub] of [['a', pubA], ['b', pubB]] as const) {
        for (let i = 0; i < 2; i++) await pub.publishAsync(`loc/${k}`, `${tag}-${k}-${i}`, { qos: 1 })
      }
    }
    await until('40 deliveries', () => gotA.messages.length + gotB.messages.length >= 40)
    for (const pub of [pubA, pubB]) await probe(pub, 'probe/sh3', [gotA, gotB])
    const payloads = (got: typeof gotA) => got.messages.map((m) => m.payload.toString())
    t.ok(payloads(gotA).length === 20 && payloads(gotA).every((p) => p.startsWith('a-')), 'what is published on A goes to A\'s member')
    t.ok(payloads(gotB).length === 20 && payloads(gotB).every((p) => p.startsWith('b-')), 'what is published on B goes to B\'s member')

    // C has no member: its first pick is random over the cluster, then it sticks to that node. A probe from
    // each of A and B reaching C shows that C heard their members' notices.
    const gotC = collect(pubC)
    await pubC.subscribeAsync('probe/sh3/c', { qos: 2 })
    for (const node of [a, b]) await gotC.probe(node.broker, 'probe/sh3/c')
    for (const k of groups) for (let i = 0; i < 3; i++) await pubC.publishAsync(`loc/${k}`, `c-${k}-${i}`, { qos: 1 })
    await until('30 more deliveries', () => gotA.messages.length + gotB.messages.length >= 70)
    await probe(pubC, 'probe/sh3', [gotA, gotB])
    for (const k of groups) {
      const onA = payloads(gotA).filter((p) => p.startsWith(`c-${k}-`)).length
      const onB = payloads(gotB).filter((p) => p.startsWith(`c-${k}-`)).length
      t.ok((onA === 3 && onB === 0) || (onA === 0 && onB === 3), `group l${k}: C's three messages to one member (A: ${onA}, B: ${onB})`)
    }
  })

  t.test('strategy local: a member on the node the message arrived at gets it, whichever node publishes', async (t) => {
    const prefix = 'sh4'
    const redis = redisClient(t, redisPort)
    const config = { mqtt: { shared_subscription_strategy: 'local' } }
    const a = await startNode(t, 'a@test', servers, prefix, config)
    const b = await startNode(t, 'b@test', servers, prefix, config)
    const memberA = await connectClient(a.tcpPort, { clientId: 'here-a' })
    const memberB = await connectClient(b.tcpPort, { clientId: 'here-b' })
    const pubA = await connectClient(a.tcpPort, { clientId: 'lpub-a' })
    const pubB = await connectClient(b.tcpPort, { clientId: 'lpub-b' })
    t.teardown(() => Promise.all([memberA, memberB, pubA, pubB].map((x) => end(x, true))))
    const gotA = collect(memberA)
    const gotB = collect(memberB)
    for (const m of [memberA, memberB]) await m.subscribeAsync('$share/near/near/#', { qos: 1 })
    for (const m of [memberA, memberB]) await m.subscribeAsync('probe/sh4', { qos: 2 })
    await until('both nodes to record their members', async () => {
      const all = await redis.hgetall(`${prefix}:shared:near/near/#`)
      return all['a@test'] === '1,1' && all['b@test'] === '1,1'
    })
    for (const node of [a, b]) await probe(node.broker, 'probe/sh4', [gotA, gotB])
    for (let i = 0; i < 10; i++) {
      await pubA.publishAsync(`near/${i}`, `a-${i}`, { qos: 1 })
      await pubB.publishAsync(`near/${i}`, `b-${i}`, { qos: 1 })
    }
    await until('20 deliveries', () => gotA.messages.length + gotB.messages.length >= 20)
    for (const pub of [pubA, pubB]) await probe(pub, 'probe/sh4', [gotA, gotB])
    const payloads = (got: typeof gotA) => got.messages.map((m) => m.payload.toString())
    t.ok(payloads(gotA).length === 10 && payloads(gotA).every((p) => p.startsWith('a-')), 'what is published on A goes to A\'s member')
    t.ok(payloads(gotB).length === 10 && payloads(gotB).every((p) => p.startsWith('b-')), 'what is published on B goes to B\'s member')
  })
}
