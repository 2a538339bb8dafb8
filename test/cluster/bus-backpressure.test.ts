// Backpressure of the Redis cluster bus: while Redis has not answered more than 16 MiB of PUBLISH
// commands, a node's publishers wait with their reads paused instead of the node queueing without
// bound; once Redis answers again they go on and nothing is lost. A node sends a message through Redis
// only to the nodes with a subscriber for it: here a second node has one. (The workers' bus: workers.test.ts.)
import t from 'tap'
import { collect, connectClient, delay, end } from '../helpers.js'
import { hasRedis, startNode, startRedis, until } from './redis-helpers.js'

if (!hasRedis) {
  t.plan(0, 'redis-server not installed')
} else {
  t.test('Redis stopped (SIGSTOP): the publisher is held past the bound; after SIGCONT every message is acknowledged and delivered', async (t) => {
    const redis = await startRedis(t)
    const node = await startNode(t, 'bp@test', redis.servers, 'bp')
    const other = await startNode(t, 'bp2@test', redis.servers, 'bp')
    const sub = await connectClient(node.tcpPort, { clientId: 'bp-sub', protocolVersion: 5 })
    t.teardown(() => end(sub, true))
    await sub.subscribeAsync('bp/#', { qos: 1 })
    const got = collect(sub)
    const remote = await connectClient(other.tcpPort, { clientId: 'bp-remote', protocolVersion: 5 })
    t.teardown(() => end(remote, true))
    await remote.subscribeAsync('bp/#', { qos: 1 })
    const gotRemote = collect(remote)
    const pub = await connectClient(node.tcpPort, { clientId: 'bp-pub', protocolVersion: 5 })
    t.teardown(() => end(pub, true))

    process.kill(redis.pid, 'SIGSTOP')
    let resumed = false
    t.teardown(() => { if (!resumed) process.kill(redis.pid, 'SIGCONT') })
    const count = 500
    const payload = Buffer.alloc(64 * 1024, 0x63)
    let acked = 0
    const acks = Array.from({ length: count }, (_, i) => pub.publishAsync(`bp/${i}`, payload, { qos: 1 }).then(() => { acked++ }))
    // Held: the acknowledgements stop short of the end and stay put.
    let last = -1
    await until('the acknowledgements to stop', async () => {
      const now = acked
      const still = now === last
      last = now
      await delay(300)
      return still && acked === now
    }, 10_000)
    t.ok(acked < count, `the publisher is held: ${acked} of ${count} acknowledged while Redis does not answer`)
    t.ok(acked * payload.length >= 8 * 1024 * 1024, 'not before the bound')

    process.kill(redis.pid, 'SIGCONT')
    resumed = true
    await Promise.all(acks)
    t.equal(acked, count, 'every message acknowledged once Redis answers')
    await got.waitFor(count, 15_000)
    t.equal(got.messages.length, count, 'and delivered to the local subscriber')
    await gotRemote.waitFor(count, 15_000)
    t.equal(gotRemote.messages.length, count, 'and to the one on the other node')
  })
}
