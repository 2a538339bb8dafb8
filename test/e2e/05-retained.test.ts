// Retained messages: store, replace, clear, the RETAIN flag as delivered, Retain Handling,
// Retain As Published, wildcard and `$` matching, shared subscriptions, expiry, retainer.enable.
import t from 'tap'
import type { IClientSubscribeOptions, MqttClient } from 'mqtt'
import { collect, connectClient, delay, end, rawConnect, startBroker, within } from '../helpers.js'

/**
 * Waits until the retained messages `c`'s last SUBSCRIBE asked for have arrived: the broker sends them right
 * behind the SUBACK, so they are ahead of a probe `c` publishes now (on a `$` topic no filter here matches).
 */
async function afterRetained (c: MqttClient, inbox: ReturnType<typeof collect>): Promise<void> {
  const probe = `$probe/${c.options.clientId}` // its own: clients run side by side
  await c.subscribeAsync(probe, { qos: 2 })
  await inbox.probe(c, probe)
}

/** Subscribes a fresh client and returns the retained messages it received. */
async function retainedFor (port: number, filter: string, opts: Partial<IClientSubscribeOptions> = {}, version: 4 | 5 = 5) {
  const c = await connectClient(port, { protocolVersion: version })
  const inbox = collect(c)
  await c.subscribeAsync(filter, { qos: 1, ...opts })
  await afterRetained(c, inbox)
  await end(c)
  return inbox.messages
}

t.test('set, replace and clear a retained message', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  t.teardown(() => end(pub))
  await pub.publishAsync('r/x', 'first', { qos: 1, retain: true })
  for (const version of [4, 5] as const) {
    const got = await retainedFor(b.tcpPort, 'r/x', {}, version)
    t.same(got.map((m) => m.payload.toString()), ['first'], `v${version}: retained message sent on subscribe`)
    t.equal(got[0]!.packet.retain, true, `v${version}: with RETAIN 1`)
  }
  await pub.publishAsync('r/x', 'second', { qos: 1, retain: true })
  const replaced = await retainedFor(b.tcpPort, 'r/x')
  t.same(replaced.map((m) => m.payload.toString()), ['second'], 'replaced, not added')

  // An empty retained payload clears the topic, and still reaches current subscribers.
  const live = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const liveInbox = collect(live)
  await live.subscribeAsync('r/x', { qos: 1, rh: 2 })
  await pub.publishAsync('r/x', '', { qos: 1, retain: true })
  const [cleared] = await liveInbox.waitFor(1)
  t.equal(cleared!.payload.length, 0, 'the empty message is delivered to existing subscribers')
  t.same(await retainedFor(b.tcpPort, 'r/x'), [], 'cleared: nothing on subscribe')
  await end(live)
})

t.test('live messages: RETAIN 0 unless Retain As Published', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const plain = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const rap = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const v4 = await connectClient(b.tcpPort, { protocolVersion: 4 })
  const inboxes = [collect(plain), collect(rap), collect(v4)]
  await plain.subscribeAsync('rap/t', { qos: 1, rap: false })
  await rap.subscribeAsync('rap/t', { qos: 1, rap: true })
  await v4.subscribeAsync('rap/t', { qos: 1 })
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  await pub.publishAsync('rap/t', 'retained', { qos: 1, retain: true })
  await pub.publishAsync('rap/t', 'plain', { qos: 1, retain: false })
  const [p, r, o] = await Promise.all(inboxes.map((i) => i.waitFor(2)))
  t.same(p!.map((m) => m.packet.retain), [false, false], 'rap false: RETAIN 0 on a live retained message')
  t.same(r!.map((m) => m.packet.retain), [true, false], 'rap true: RETAIN as published')
  t.same(o!.map((m) => m.packet.retain), [false, false], 'v3.1.1: RETAIN 0 on live messages [MQTT-3.3.1-9]')
  // Sent because of the subscription, a retained message keeps RETAIN 1 whatever rap says.
  const late = await retainedFor(b.tcpPort, 'rap/t', { rap: false })
  t.equal(late[0]?.packet.retain, true)
  for (const c of [plain, rap, v4, pub]) await end(c)
})

t.test('Retain Handling', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  b.broker.publish('rh/t', 'kept', { qos: 1, retain: true })
  const cases: [0 | 1 | 2, number, number][] = [[0, 1, 2], [1, 1, 1], [2, 0, 0]]
  await Promise.all(cases.map(async ([rh, afterFirst, afterSecond]) => {
    const c = await connectClient(b.tcpPort, { protocolVersion: 5 })
    const inbox = collect(c)
    await c.subscribeAsync('rh/t', { qos: 1, rh })
    await afterRetained(c, inbox)
    t.equal(inbox.messages.length, afterFirst, `rh ${rh}: ${afterFirst} on a new subscription`)
    await c.subscribeAsync('rh/t', { qos: 1, rh })
    await afterRetained(c, inbox)
    t.equal(inbox.messages.length, afterSecond, `rh ${rh}: ${afterSecond - afterFirst} more on re-subscribe`)
    t.ok(inbox.messages.every((m) => m.packet.retain), `rh ${rh}: sent with RETAIN 1`)
    await end(c)
  }))
})

t.test('wildcard filters match retained messages; leading wildcards skip `$` topics', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  t.teardown(() => end(pub))
  for (const topic of ['w', 'w/a', 'w/b', 'w/b/c', '$x/r', '/lead']) await pub.publishAsync(topic, topic, { qos: 1, retain: true })
  b.broker.publish('$SYS/test/r', '$SYS/test/r', { retain: true })
  const table: [string, string[]][] = [
    ['#', ['/lead', 'w', 'w/a', 'w/b', 'w/b/c']],
    ['w/#', ['w', 'w/a', 'w/b', 'w/b/c']],
    ['w/+', ['w/a', 'w/b']],
    ['+', ['w']],
    ['+/r', []],
    ['+/+', ['/lead', 'w/a', 'w/b']],
    ['+/b/#', ['w/b', 'w/b/c']],
    ['$x/+', ['$x/r']],
    ['$SYS/#', ['$SYS/test/r']],
    ['+/test/r', []],
    ['w/b/c', ['w/b/c']],
  ]
  const results = await Promise.all(table.map(([filter]) => retainedFor(b.tcpPort, filter, {}, 5)))
  table.forEach(([filter, expected], i) => {
    t.same(results[i]!.map((m) => m.topic).sort(), expected, `${filter} → ${expected.join(' ') || 'nothing'}`)
  })
})

t.test('retained messages are not sent to a shared subscription', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  b.broker.publish('sh/r', 'kept', { qos: 1, retain: true })
  const got = await retainedFor(b.tcpPort, '$share/g/sh/r')
  t.same(got, [], 'nothing on subscribe')
  t.equal((await retainedFor(b.tcpPort, 'sh/r')).length, 1, 'while a plain subscription gets it')
})

t.test('a retained message expires with its Message Expiry Interval', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  await pub.publishAsync('exp/r', 'short', { qos: 1, retain: true, properties: { messageExpiryInterval: 1 } })
  await pub.publishAsync('exp/keep', 'long', { qos: 1, retain: true, properties: { messageExpiryInterval: 60 } })
  await end(pub)
  const early = await retainedFor(b.tcpPort, 'exp/+', {}, 5)
  t.same(early.map((m) => m.topic).sort(), ['exp/keep', 'exp/r'], 'both delivered before expiry')
  const short = early.find((m) => m.topic === 'exp/r')!
  t.equal(short.packet.properties?.messageExpiryInterval, 1, 'remaining interval sent along')
  // A timer under test: expiry compares the clock, and at least 1.5 s have passed however late this wakes.
  await delay(1500)
  const late = await retainedFor(b.tcpPort, 'exp/+', {}, 5)
  t.same(late.map((m) => m.topic), ['exp/keep'], 'the expired one is not delivered after 1.5 s')
  const remaining = late[0]!.packet.properties?.messageExpiryInterval ?? 0
  t.ok(remaining <= 59 && remaining >= 57, `remaining interval decremented (${remaining})`)
})

t.test('retainer.enable = false: nothing stored, live delivery unaffected', async (t) => {
  const b = await startBroker({ retainer: { enable: false } })
  t.teardown(() => b.close())
  const live: MqttClient = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const inbox = collect(live)
  await live.subscribeAsync('off/t', { qos: 1 })
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  await pub.publishAsync('off/t', 'not kept', { qos: 1, retain: true })
  await inbox.waitFor(1)
  t.same(await retainedFor(b.tcpPort, 'off/t'), [], 'no retained message on subscribe')
  await end(pub)
  await end(live)
})

t.test('mqtt.retain_available = false: a retained PUBLISH is refused', async (t) => {
  const b = await startBroker({ mqtt: { retain_available: false } })
  t.teardown(() => b.close())
  const { raw, connack } = await rawConnect(b.tcpPort, 5)
  t.teardown(() => raw.socket.destroy())
  t.equal(connack.properties?.retainAvailable, false, 'announced in CONNACK')
  raw.send({ cmd: 'publish', topic: 'ra/t', payload: Buffer.from('x'), qos: 0, retain: false, dup: false })
  raw.send({ cmd: 'publish', topic: 'ra/t', payload: Buffer.from('x'), qos: 1, messageId: 1, retain: true, dup: false })
  t.equal((await raw.take('disconnect')).reasonCode, 0x9a, 'DISCONNECT 0x9A')
  t.ok(await within(2000, raw.closed), 'connection closed')
  t.same(await retainedFor(b.tcpPort, 'ra/t'), [], 'nothing stored')
})
