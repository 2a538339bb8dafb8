// Route-aware delivery in a Redis cluster: a node sends a message through Redis only to the nodes with a
// matching subscription (counted on Redis itself, a client PSUBSCRIBEd to the nodes' message channels),
// a retained message to every node; a SUBACK comes once every other node routes to the new subscription,
// so a message published anywhere after it reaches the subscriber, even while a node dies meanwhile.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { collect, connectClient, end, freePort, probe, within } from '../helpers.js'
import { hasRedis, redisClient, spawnNode, startNode, startRedis, until } from './redis-helpers.js'

if (!hasRedis) {
  t.plan(0, 'redis-server not installed')
} else {
  const { servers, port: redisPort } = await startRedis(t)

  t.test('a message published right after the SUBACK reaches the new subscriber on another node', async (t) => {
    const a = await startNode(t, 'a@routes', servers, 'r1')
    const b = await startNode(t, 'b@routes', servers, 'r1')
    const pub = await connectClient(a.tcpPort, { clientId: 'r1-pub', protocolVersion: 5 })
    const sub = await connectClient(b.tcpPort, { clientId: 'r1-sub', protocolVersion: 5 })
    t.teardown(() => Promise.all([pub, sub].map((c) => end(c, true))))
    const got = collect(sub)
    const rounds = 30
    for (let i = 0; i < rounds; i++) {
      // Exact filters, single-level and multi-level wildcards in turn: each new to the cluster.
      const filter = [`new/${i}/x`, `new/${i}/+`, `new/${i}/#`][i % 3]!
      await sub.subscribeAsync(filter, { qos: 0 })
      pub.publish(`new/${i}/x`, String(i), { qos: 0 })
      await got.waitFor(i + 1, 5000)
    }
    t.same(got.messages.map((m) => m.payload.toString()), Array.from({ length: rounds }, (_, i) => String(i)), 'every message, the first after each SUBACK included')
  })

  t.test('a node gets through Redis only the messages it has subscribers for; retained ones go to every node', async (t) => {
    const prefix = 'r2'
    const a = await startNode(t, 'a@only', servers, prefix)
    const b = await startNode(t, 'b@only', servers, prefix)
    const spy = redisClient(t, redisPort)
    const seen = new Map<string, number>()
    spy.on('pmessageBuffer', (_pattern: Buffer, channel: Buffer) => {
      const name = channel.toString()
      seen.set(name, (seen.get(name) ?? 0) + 1)
    })
    await spy.psubscribe(`${prefix}:msg*`)

    const pub = await connectClient(a.tcpPort, { clientId: 'r2-pub', protocolVersion: 5 })
    const local = await connectClient(a.tcpPort, { clientId: 'r2-local', protocolVersion: 5 })
    const witness = await connectClient(b.tcpPort, { clientId: 'r2-witness', protocolVersion: 5 })
    t.teardown(() => Promise.all([pub, local, witness].map((c) => end(c, true))))
    await local.subscribeAsync('only/a/#', { qos: 1 })
    await witness.subscribeAsync('probe/b', { qos: 2 })
    const gotLocal = collect(local)
    const gotWitness = collect(witness)
    for (let i = 0; i < 50; i++) pub.publish(`only/a/${i}`, String(i), { qos: 0 })
    await gotLocal.waitFor(50, 5000)
    // The probe crosses to B on B's channel after the 50: once B has it, Redis has carried what A sent before.
    await probe(pub, 'probe/b', [gotWitness], 5000)
    t.same([...seen], [[`${prefix}:msg:b@only`, 1]], 'only the probe went through Redis, to B alone')
    t.equal(gotWitness.messages.length, 0, 'B delivered nothing but the probe')

    await witness.subscribeAsync('only/#', { qos: 1 })
    for (let i = 0; i < 5; i++) pub.publish(`only/a/${i}`, String(i), { qos: 0 })
    await gotWitness.waitFor(5, 5000)
    t.equal(seen.get(`${prefix}:msg:b@only`), 2, 'once B has a subscriber, A sends to it (the 5 in one payload)')

    await pub.publishAsync('kept/1', 'k', { qos: 1, retain: true })
    await until('the retained message through Redis', () => seen.get(`${prefix}:msg`) === 1, 5000)
    const late = await connectClient(b.tcpPort, { clientId: 'r2-late', protocolVersion: 5 })
    t.teardown(() => end(late, true))
    const gotLate = collect(late)
    await late.subscribeAsync('kept/#', { qos: 1 })
    await gotLate.waitFor(1, 5000)
    t.equal(gotLate.messages[0]!.payload.toString(), 'k', 'a retained message reaches every node, subscribers or not')
  })

  t.test('$share: one delivery per group when the members are on the other node only', async (t) => {
    const a = await startNode(t, 'a@share', servers, 'r3')
    const b = await startNode(t, 'b@share', servers, 'r3')
    const members = await Promise.all([0, 1].map(async (i) => {
      const c = await connectClient(b.tcpPort, { clientId: `r3-m${i}`, protocolVersion: 5 })
      t.teardown(() => end(c, true))
      await c.subscribeAsync('$share/g/job/#', { qos: 1 })
      await c.subscribeAsync('probe/r3', { qos: 2 })
      return collect(c)
    }))
    const pub = await connectClient(a.tcpPort, { clientId: 'r3-pub', protocolVersion: 5 })
    t.teardown(() => end(pub, true))
    for (let i = 0; i < 20; i++) await pub.publishAsync(`job/${i}`, String(i), { qos: 1 })
    await until('20 deliveries', () => members.reduce((n, m) => n + m.messages.length, 0) >= 20, 5000)
    await probe(pub, 'probe/r3', members, 5000)
    const payloads = members.flatMap((m) => m.messages.filter((x) => x.topic.startsWith('job/')).map((x) => x.payload.toString()))
    t.equal(payloads.length, 20, 'each message once to the group')
    t.same([...new Set(payloads)].length, 20)
  })

  t.test('a node dies while routes replicate: the SUBACK still comes, and its successor routes to the subscriber', async (t) => {
    const prefix = 'r4'
    const dir = await mkdtemp(join(tmpdir(), 'culex-routes-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
    const a = await startNode(t, 'a@death', servers, prefix)
    const portB = await freePort()
    const nodeB = await spawnNode(t, dir, 'b@death', portB, servers, prefix)
    const sub = await connectClient(a.tcpPort, { clientId: 'r4-sub', protocolVersion: 5 })
    t.teardown(() => end(sub, true))
    const got = collect(sub)
    await sub.subscribeAsync('warm/up', { qos: 1 })

    // B stopped: it reads nothing, acknowledges nothing, until its heartbeats lapse (node_timeout 1 s).
    process.kill(nodeB.pid!, 'SIGSTOP')
    const suback = sub.subscribeAsync('after/#', { qos: 1 })
    t.ok(await within(15_000, suback), 'the SUBACK comes although B never acknowledged the new route')
    const killed = new Promise((resolve) => nodeB.once('exit', resolve))
    nodeB.kill('SIGKILL')
    await killed

    const again = await spawnNode(t, dir, 'b@death', portB, servers, prefix)
    t.ok(again.pid, 'B started again under its name')
    const pub = await connectClient(portB, { clientId: 'r4-pub', protocolVersion: 5 })
    t.teardown(() => end(pub, true))
    await pub.publishAsync('after/1', 'from the new B', { qos: 1 })
    await got.waitFor(1, 5000)
    t.equal(got.messages[0]!.payload.toString(), 'from the new B', 'the new B learnt the route when it joined')
  })
}
