// Topic filters and subscriptions: matching, invalid filters, No Local, Subscription Identifiers,
// UNSUBSCRIBE, mountpoints, the limits and switches on SUBSCRIBE, and the authorization hooks.
import t from 'tap'
import type { ISubscription } from 'mqtt-packet'
import type { Message } from '../../src/index.js'
import { collect, connectClient, delay, end, probe, rawConnect, startBroker, until, type TestBroker } from '../helpers.js'

t.test('topic filter matching', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const filters = ['a/b/c', 'a/+/c', 'a/#', '#', '+/+/+', '+', 'a/+', '+/b/#', '$SYS/#', '$SYS/+/x', '/+', '+/#', 'a/b/c/#', 'zz/end']
  const table: [string, string[]][] = [
    ['a/b/c', ['a/b/c', 'a/+/c', 'a/#', '#', '+/+/+', '+/b/#', '+/#', 'a/b/c/#']],
    ['a', ['a/#', '#', '+', '+/#']],
    ['a/b', ['a/#', '#', 'a/+', '+/b/#', '+/#']],
    ['a/x/c', ['a/+/c', 'a/#', '#', '+/+/+', '+/#']],
    ['a/b/c/d', ['a/#', '#', '+/b/#', '+/#', 'a/b/c/#']],
    ['x/b/c/d', ['#', '+/b/#', '+/#']],
    ['/x', ['#', '/+', '+/#']],
    ['a//c', ['a/+/c', 'a/#', '#', '+/+/+', '+/#']],
    ['$SYS/a/x', ['$SYS/#', '$SYS/+/x']],
    ['$SYS', ['$SYS/#']],
    ['$other/b', []],
  ]
  // One v5 client, one subscription per filter, each with its own Subscription Identifier: every message
  // arrives once, carrying the identifiers of all the filters that matched it.
  const sub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const inbox = collect(sub)
  for (const [i, filter] of filters.entries()) {
    await sub.subscribeAsync(filter, { qos: 0, properties: { subscriptionIdentifier: i + 1 } })
  }
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  // Clients may not publish to $SYS (test/security/sys-topics.test.ts): the broker does.
  for (const [topic] of table) {
    if (topic.startsWith('$SYS')) b.broker.publish(topic, topic)
    else await pub.publishAsync(topic, topic)
  }
  await pub.publishAsync('zz/end', '')
  await until(() => inbox.messages.some((m) => m.topic === 'zz/end'), 'zz/end, published last')
  for (const [topic, expected] of table) {
    const got = inbox.messages.filter((m) => m.topic === topic)
    t.ok(got.length <= 1, `${topic}: at most one copy`)
    const ids = got[0]?.packet.properties?.subscriptionIdentifier
    const matched = (ids === undefined ? [] : Array.isArray(ids) ? ids : [ids]).map((id) => filters[id - 1]).sort()
    t.same(matched, [...expected].sort(), `${topic} matched by ${expected.join(' ') || 'nothing'}`)
  }
  await end(pub)
  await end(sub)
})

t.test('v3.1.1: `#` does not match $SYS topics, `$SYS/#` does', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const all = await connectClient(b.tcpPort)
  const sys = await connectClient(b.tcpPort)
  const [allInbox, sysInbox] = [collect(all), collect(sys)]
  await all.subscribeAsync('#', { qos: 1 })
  await sys.subscribeAsync('$SYS/#', { qos: 1 })
  b.broker.publish('$SYS/x', 'sys', { qos: 1 })
  b.broker.publish('plain', 'plain', { qos: 1 })
  await allInbox.waitFor(1)
  await sysInbox.waitFor(1)
  await allInbox.probe(b.broker, 'probe/all')
  await sysInbox.probe(b.broker, '$SYS/probe')
  t.same(allInbox.messages.map((m) => m.topic), ['plain'])
  t.same(sysInbox.messages.map((m) => m.topic), ['$SYS/x'])
  await end(all)
  await end(sys)
})

const INVALID = ['a/#/b', 'a+', 'a/b#', '#/a', 'a/+b', '$share/g', '$share//a', '$share/g+/a', '']

for (const version of [4, 5] as const) {
  t.test(`v${version}: invalid filters refused in the SUBACK, valid ones in the same SUBSCRIBE granted`, async (t) => {
    const b = await startBroker()
    t.teardown(() => b.close())
    const { raw } = await rawConnect(b.tcpPort, version)
    t.teardown(() => raw.socket.destroy())
    const subscriptions: ISubscription[] = [{ topic: 'ok/1', qos: 1 }, ...INVALID.map((topic) => ({ topic, qos: 0 as const })), { topic: 'ok/+', qos: 2 }]
    raw.send({ cmd: 'subscribe', messageId: 3, subscriptions })
    const suback = await raw.take('suback')
    const refused = version === 5 ? 0x8f : 0x80
    t.same(suback.granted, [1, ...INVALID.map(() => refused), 2])
    t.notOk(raw.isClosed(), 'connection stays open')
    b.broker.publish('ok/1', 'x', { qos: 1 })
    const publish = await raw.take('publish')
    t.equal(publish.topic, 'ok/1', 'the valid subscriptions work')
  })
}

t.test('No Local: a client does not receive its own messages on that subscription', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const self = await connectClient(b.tcpPort, { protocolVersion: 5, clientId: 'nl-self' })
  const other = await connectClient(b.tcpPort, { protocolVersion: 5, clientId: 'nl-other' })
  const [selfInbox, otherInbox] = [collect(self), collect(other)]
  await self.subscribeAsync('nl/t', { qos: 1, nl: true })
  await other.subscribeAsync('nl/t', { qos: 1, nl: false })
  await self.publishAsync('nl/t', 'from self', { qos: 1 })
  await other.publishAsync('nl/t', 'from other', { qos: 1 })
  await otherInbox.waitFor(2)
  await selfInbox.waitFor(1)
  // Both subscribe nl/t: one probe, published by the broker after both messages were routed (their PUBACKs came).
  await probe(b.broker, 'nl/t', [selfInbox, otherInbox])
  t.same(selfInbox.messages.map((m) => m.payload.toString()), ['from other'], 'No Local subscriber skips its own message')
  t.same(otherInbox.messages.map((m) => m.payload.toString()), ['from self', 'from other'], 'without No Local, own messages come back')
  await end(self)
  await end(other)
})

t.test('Subscription Identifiers', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const other = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const [inbox, otherInbox] = [collect(sub), collect(other)]
  await sub.subscribeAsync('si/one', { qos: 1, properties: { subscriptionIdentifier: 5 } })
  await sub.subscribeAsync('si/#', { qos: 1, properties: { subscriptionIdentifier: 7 } })
  await sub.subscribeAsync('si/+', { qos: 0, properties: { subscriptionIdentifier: 268435455 } })
  await other.subscribeAsync('si/#', { qos: 2 })
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  await pub.publishAsync('si/one', 'overlap', { qos: 2 })
  await pub.publishAsync('si/two/deep', 'single', { qos: 2 })
  await inbox.waitFor(2)
  await otherInbox.waitFor(2)
  await probe(pub, 'si/probe', [inbox, otherInbox])
  t.equal(inbox.messages.length, 2, 'overlapping subscriptions of one client give one copy')
  const [overlap, single] = inbox.messages
  const ids = overlap!.packet.properties?.subscriptionIdentifier
  t.same(Array.isArray(ids) ? [...ids].sort((x, y) => x - y) : ids, [5, 7, 268435455], 'with every matching identifier')
  t.equal(overlap!.packet.qos, 1, 'at the highest granted QoS')
  t.equal(single!.packet.properties?.subscriptionIdentifier, 7, 'a single match carries its identifier')
  t.equal(otherInbox.messages[0]!.packet.properties?.subscriptionIdentifier, undefined, 'no identifier when subscribed without one')
  t.same(otherInbox.messages.map((m) => m.packet.qos), [2, 2])
  b.broker.publish('sk/kept', 'retained', { qos: 1, retain: true })
  await other.subscribeAsync('sk/kept', { qos: 1, properties: { subscriptionIdentifier: 42 } })
  const [, , retained] = await otherInbox.waitFor(3)
  t.equal(retained!.packet.properties?.subscriptionIdentifier, 42, 'a retained message sent on subscribe carries the new identifier')
  await end(pub)
  await end(sub)
  await end(other)
})

for (const version of [4, 5] as const) {
  t.test(`v${version}: UNSUBSCRIBE`, async (t) => {
    const b = await startBroker()
    t.teardown(() => b.close())
    const { raw } = await rawConnect(b.tcpPort, version)
    t.teardown(() => raw.socket.destroy())
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'un/a', qos: 1 }, { topic: 'un/b', qos: 1 }] })
    await raw.take('suback')
    raw.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: ['un/a', 'un/never'] })
    const unsuback = await raw.take('unsuback')
    t.equal(unsuback.messageId, 2)
    if (version === 5) t.same(unsuback.granted, [0x00, 0x11], 'Success, No subscription existed')
    b.broker.publish('un/a', 'gone', { qos: 1 })
    b.broker.publish('un/b', 'kept', { qos: 1 })
    const publish = await raw.take('publish')
    t.equal(publish.topic, 'un/b')
    await raw.ping() // both were routed before it
    t.equal(raw.packets.filter((p) => p.cmd === 'publish').length, 1, 'nothing on the unsubscribed filter')
  })
}

t.test('listener mountpoint', async (t) => {
  const seen: string[] = []
  const b = await startBroker({
    listeners: {
      tcp: {
        default: { bind: '127.0.0.1:0' },
        mounted: { bind: '127.0.0.1:0', mountpoint: 'dev/${clientid}/' },
      },
    },
  })
  t.teardown(() => b.close())
  b.broker.addHook('published', (m: Message) => { seen.push(m.topic) })
  const mountedPort = b.broker.port('tcp', 'mounted')
  const outside = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const outsideInbox = collect(outside)
  await outside.subscribeAsync('dev/+/t', { qos: 1 })
  for (const [n, version] of ([4, 5] as const).entries()) {
    const id = `m${version}`
    const mounted = await connectClient(mountedPort, { protocolVersion: version, clientId: id })
    const inbox = collect(mounted)
    await mounted.subscribeAsync('in/+', { qos: 1 })
    await mounted.publishAsync('t', 'up', { qos: 1 })
    const up = await outsideInbox.waitFor(n + 1)
    t.equal(up.at(-1)!.topic, `dev/${id}/t`, `v${version}: published under the mountpoint`)
    t.ok(seen.includes(`dev/${id}/t`), 'the published hook sees the mounted topic')
    await outside.publishAsync(`dev/${id}/in/x`, 'down', { qos: 1 })
    await outside.publishAsync('in/x', 'not mine', { qos: 1 })
    await outside.publishAsync(`dev/other/in/x`, 'not mine either', { qos: 1 })
    const [down] = await inbox.waitFor(1)
    t.equal(down!.topic, 'in/x', `v${version}: received without the mountpoint`)
    t.equal(down!.payload.toString(), 'down')
    // Under its mountpoint it arrives as in/probe (the helper matches the probe by its payload).
    await inbox.probe(outside, `dev/${id}/in/probe`)
    t.equal(inbox.messages.length, 1, 'only topics under its own mountpoint')
    await end(mounted)
  }
  await end(outside)
})

t.test('mqtt.max_subscriptions', async (t) => {
  const b = await startBroker({ mqtt: { max_subscriptions: 2 } })
  t.teardown(() => b.close())
  for (const version of [4, 5] as const) {
    const { raw } = await rawConnect(b.tcpPort, version)
    t.teardown(() => raw.socket.destroy())
    raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'ms/a', qos: 1 }, { topic: 'ms/b', qos: 1 }, { topic: 'ms/c', qos: 1 }] })
    t.same((await raw.take('suback')).granted, [1, 1, version === 5 ? 0x97 : 0x80], `v${version}: the third is over quota`)
    raw.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: 'ms/a', qos: 0 }] })
    t.same((await raw.take('suback')).granted, [0], 'replacing an existing subscription is not a new one')
  }
})

t.test('mqtt.wildcard_subscription = false', async (t) => {
  const b = await startBroker({ mqtt: { wildcard_subscription: false } })
  t.teardown(() => b.close())
  const { raw, connack } = await rawConnect(b.tcpPort, 5)
  t.teardown(() => raw.socket.destroy())
  t.equal(connack.properties?.wildcardSubscriptionAvailable, false, 'announced in CONNACK')
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: ['ws/a', 'ws/+', '#', '$share/g/ws/#'].map((topic) => ({ topic, qos: 1 as const })) })
  t.same((await raw.take('suback')).granted, [1, 0xa2, 0xa2, 0xa2])
})

t.test('mqtt.shared_subscription = false', async (t) => {
  const b = await startBroker({ mqtt: { shared_subscription: false } })
  t.teardown(() => b.close())
  const { raw, connack } = await rawConnect(b.tcpPort, 5)
  t.teardown(() => raw.socket.destroy())
  t.equal(connack.properties?.sharedSubscriptionAvailable, false, 'announced in CONNACK')
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: '$share/g/ss', qos: 1 }, { topic: 'ss', qos: 1 }] })
  t.same((await raw.take('suback')).granted, [0x9e, 1])
})

/** Runs a check with the hook answering synchronously, then through a promise. */
function bothWays<A extends unknown[]> (deny: (...args: A) => boolean): [string, (...args: A) => unknown][] {
  return [
    ['sync', (...args: A) => (deny(...args) ? 'deny' : 'ignore')],
    ['async', async (...args: A) => { await delay(5); return deny(...args) ? false : undefined }], // answers a few ms later
  ]
}

for (const [how, hook] of bothWays((_client: unknown, req: { topic: string }) => req.topic.startsWith('secret'))) {
  t.test(`authorizeSubscribe deny (${how} hook)`, async (t) => {
    const b: TestBroker = await startBroker({}, { hooks: { authorizeSubscribe: hook as never } })
    t.teardown(() => b.close())
    for (const version of [4, 5] as const) {
      const { raw } = await rawConnect(b.tcpPort, version)
      t.teardown(() => raw.socket.destroy())
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'secret/#', qos: 1 }, { topic: 'open/#', qos: 2 }] })
      t.same((await raw.take('suback')).granted, [version === 5 ? 0x87 : 0x80, 2], `v${version}`)
      b.broker.publish('secret/x', 'hidden', { qos: 1 })
      b.broker.publish('open/x', 'visible', { qos: 1 })
      const publish = await raw.take('publish')
      t.equal(publish.topic, 'open/x')
      await raw.ping() // both were routed before it
      t.equal(raw.packets.filter((p) => p.cmd === 'publish').length, 1, 'nothing through the denied filter')
    }
  })
}

for (const [how, hook] of bothWays((_client: unknown, m: { topic: string }) => m.topic.startsWith('secret'))) {
  t.test(`authorizePublish deny (${how} hook)`, async (t) => {
    const b = await startBroker({}, { hooks: { authorizePublish: hook as never } })
    t.teardown(() => b.close())
    const sub = await connectClient(b.tcpPort, { protocolVersion: 5 })
    const inbox = collect(sub)
    await sub.subscribeAsync('#', { qos: 1 })
    const { raw } = await rawConnect(b.tcpPort, 5)
    t.teardown(() => raw.socket.destroy())
    raw.send({ cmd: 'publish', topic: 'secret/x', payload: Buffer.from('no'), qos: 1, messageId: 1, dup: false, retain: false })
    t.equal((await raw.take('puback')).reasonCode, 0x87, 'v5 PUBACK 0x87')
    raw.send({ cmd: 'publish', topic: 'secret/y', payload: Buffer.from('no'), qos: 2, messageId: 2, dup: false, retain: false })
    t.equal((await raw.take('pubrec')).reasonCode, 0x87, 'v5 PUBREC 0x87')
    const v4 = await rawConnect(b.tcpPort, 4)
    t.teardown(() => v4.raw.socket.destroy())
    v4.raw.send({ cmd: 'publish', topic: 'secret/z', payload: Buffer.from('no'), qos: 1, messageId: 1, dup: false, retain: false })
    await v4.raw.take('puback')
    raw.send({ cmd: 'publish', topic: 'open/x', payload: Buffer.from('yes'), qos: 1, messageId: 3, dup: false, retain: false })
    t.equal((await raw.take('puback')).reasonCode ?? 0, 0)
    await inbox.waitFor(1)
    // Every PUBLISH was acknowledged, so decided and routed, before this probe (the broker's own: no hook asked).
    await inbox.probe(b.broker, 'probe')
    t.same(inbox.messages.map((m) => m.topic), ['open/x'], 'denied messages are not delivered')
    await end(sub)
  })
}
