// Shared subscriptions ($share/<group>/<filter>): one member per message, round robin, groups side by
// side with plain subscribers, redelivery when a member leaves with a message in flight, No Local.
import t from 'tap'
import { collect, connectClient, end, probe, rawConnect, startBroker, until, within } from '../helpers.js'

t.test('round robin over 3 members: each message to exactly one member', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const members = await Promise.all([4, 5, 5].map((v, i) => connectClient(b.tcpPort, { protocolVersion: v as 4 | 5, clientId: `member-${i}` })))
  const inboxes = members.map(collect)
  for (const m of members) await m.subscribeAsync('$share/g/jobs/+', { qos: 1 })
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  for (let i = 0; i < 30; i++) await pub.publishAsync(`jobs/${i % 2}`, String(i), { qos: (i % 2) as 0 | 1 })
  const total = () => inboxes.reduce((n, i) => n + i.messages.length, 0)
  await until(() => total() >= 30, '30 messages')
  // A shared subscription gives a probe to one member: each also subscribes a plain filter for it.
  for (const m of members) await m.subscribeAsync('probe/jobs', { qos: 2 })
  await probe(pub, 'probe/jobs', inboxes)
  const payloads = inboxes.flatMap((i) => i.messages.map((m) => Number(m.payload.toString())))
  t.equal(payloads.length, 30, 'no message delivered twice')
  t.same([...payloads].sort((x, y) => x - y), Array.from({ length: 30 }, (_, i) => i), 'every message delivered')
  t.same(inboxes.map((i) => i.messages.length), [10, 10, 10], 'round robin: a third each')
  t.ok(inboxes.flatMap((i) => i.messages).every((m) => m.topic.startsWith('jobs/')), 'delivered on the published topic, without $share')
  await end(pub)
  for (const m of members) await end(m)
})

t.test('two groups each get every message, and so does a plain subscriber', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const clients = await Promise.all([0, 1, 2, 3, 4].map(() => connectClient(b.tcpPort, { protocolVersion: 5 })))
  const inboxes = clients.map(collect)
  const filters = ['$share/a/news', '$share/a/news', '$share/b/news', '$share/b/news', 'news']
  for (const [i, c] of clients.entries()) await c.subscribeAsync(filters[i]!, { qos: 1 })
  const pub = await connectClient(b.tcpPort, { protocolVersion: 4 })
  for (let i = 0; i < 6; i++) await pub.publishAsync('news', String(i), { qos: 1 })
  await inboxes[4]!.waitFor(6)
  for (const c of clients) await c.subscribeAsync('probe/news', { qos: 2 })
  await probe(pub, 'probe/news', inboxes)
  const got = (members: number[]) => members.flatMap((i) => inboxes[i]!.messages.map((m) => m.payload.toString())).sort()
  const all = ['0', '1', '2', '3', '4', '5']
  t.same(got([0, 1]), all, 'group a: every message once')
  t.same(got([2, 3]), all, 'group b: every message once')
  t.same(got([4]), all, 'plain subscriber: every message')
  t.ok(inboxes.slice(0, 4).every((i) => i.messages.length === 3), 'each group alternates between its two members')
  await end(pub)
  for (const c of clients) await end(c)
})

t.test('a QoS 1 message in flight to a member that leaves goes to another member', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  // The raw member subscribes first, so round robin gives it the first message; it never acknowledges.
  const { raw } = await rawConnect(b.tcpPort, 5, { clientId: 'silent' })
  t.teardown(() => raw.socket.destroy())
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/work', qos: 1 }] })
  t.same((await raw.take('suback')).granted, [1])
  const other = await connectClient(b.tcpPort, { protocolVersion: 5, clientId: 'worker' })
  const inbox = collect(other)
  await other.subscribeAsync('$share/g/work', { qos: 1 })
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  await pub.publishAsync('work', 'first', { qos: 1 })
  await pub.publishAsync('work', 'second', { qos: 1 })
  const held = await raw.take('publish')
  await inbox.waitFor(1)
  t.equal(inbox.messages.length, 1, 'one message each while both are connected')
  t.not(inbox.messages[0]!.payload.toString(), held.payload.toString())
  raw.socket.destroy()
  await inbox.waitFor(2)
  t.equal(inbox.messages[1]!.payload.toString(), held.payload.toString(), 'the unacknowledged message is redelivered to the remaining member')
  // Redelivered as the broker saw the member leave: a second copy would be ahead of a probe the broker publishes now.
  await other.subscribeAsync('probe/work', { qos: 2 })
  await inbox.probe(b.broker, 'probe/work')
  t.equal(inbox.messages.length, 2, 'exactly once')
  await end(pub)
  await end(other)
})

t.test('No Local on a shared subscription is a protocol error', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const { raw } = await rawConnect(b.tcpPort, 5)
  t.teardown(() => raw.socket.destroy())
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/nl', qos: 1, nl: true }] })
  const disconnect = await raw.take('disconnect')
  t.equal(disconnect.reasonCode, 0x82, 'DISCONNECT 0x82 [MQTT-3.8.3-4]')
  t.ok(await within(2000, raw.closed), 'connection closed')
  t.notOk(raw.packets.some((p) => p.cmd === 'suback'), 'no SUBACK')
})

t.test('unsubscribing a member leaves the others to receive everything', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const [a, c] = await Promise.all([0, 1].map(() => connectClient(b.tcpPort, { protocolVersion: 5 })))
  const [aInbox, cInbox] = [collect(a!), collect(c!)]
  await a!.subscribeAsync('$share/g/u', { qos: 1 })
  await c!.subscribeAsync('$share/g/u', { qos: 1 })
  await a!.unsubscribeAsync('$share/g/u')
  for (let i = 0; i < 4; i++) b.broker.publish('u', String(i), { qos: 1 })
  await cInbox.waitFor(4)
  await a!.subscribeAsync('probe/u', { qos: 2 })
  await c!.subscribeAsync('probe/u', { qos: 2 })
  await probe(b.broker, 'probe/u', [aInbox, cInbox])
  t.equal(aInbox.messages.length, 0)
  t.equal(cInbox.messages.length, 4)
  await end(a!)
  await end(c!)
})

for (const strategy of ['random', 'local', 'round_robin_per_group', 'sticky', 'hash_clientid', 'hash_topic'] as const) {
  t.test(`shared_subscription_strategy = ${strategy}: each message to exactly one member`, async (t) => {
    const b = await startBroker({ mqtt: { shared_subscription_strategy: strategy } })
    t.teardown(() => b.close())
    const members = await Promise.all([0, 1, 2].map(() => connectClient(b.tcpPort, { protocolVersion: 5 })))
    const inboxes = members.map(collect)
    for (const m of members) await m.subscribeAsync('$share/s/#', { qos: 1 })
    const pub = await connectClient(b.tcpPort, { protocolVersion: 5, clientId: 'strategy-pub' })
    for (let i = 0; i < 12; i++) await pub.publishAsync(`st/${i % 3}`, String(i), { qos: 1 })
    b.broker.publish('$SYS/st', 'not for #', { qos: 1 })
    const all = () => inboxes.flatMap((i) => i.messages)
    await until(() => all().length >= 12, '12 messages')
    // Every message was acknowledged, so routed, and $SYS/st routed, before a probe the broker publishes now
    // (on a `$` topic `#` does not match, to each member).
    for (const m of members) await m.subscribeAsync('$probe/st', { qos: 2 })
    await probe(b.broker, '$probe/st', inboxes)
    t.same(all().map((m) => Number(m.payload.toString())).sort((x, y) => x - y), Array.from({ length: 12 }, (_, i) => i),
      'every message once, and `$share/s/#` does not match a $SYS topic')
    const holders = (topic: string) => new Set(inboxes.flatMap((inbox, n) => inbox.messages.filter((m) => m.topic === topic).map(() => n)))
    if (strategy === 'sticky' || strategy === 'hash_clientid') {
      t.equal(inboxes.filter((i) => i.messages.length > 0).length, 1, 'one publisher: one member')
    }
    if (strategy === 'round_robin_per_group') {
      t.same(inboxes.map((i) => i.messages.length), [4, 4, 4], 'the members in turn')
    }
    if (strategy === 'hash_topic') {
      for (const topic of ['st/0', 'st/1', 'st/2']) t.equal(holders(topic).size, 1, `${topic} always to the same member`)
    }
    await end(pub)
    for (const m of members) await end(m)
  })
}
