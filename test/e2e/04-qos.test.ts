// QoS 0/1/2 end to end: the delivered QoS, the QoS 2 handshakes on both sides, duplicate QoS 2
// PUBLISH, mqtt.upgrade_qos and mqtt.max_qos_allowed.
import t from 'tap'
import type { Packet } from 'mqtt-packet'
import { collect, connectClient, end, rawConnect, startBroker, until, within } from '../helpers.js'

const QOS = [0, 1, 2] as const

for (const [pubVersion, subVersion] of [[4, 4], [5, 5], [4, 5], [5, 4]] as const) {
  t.test(`publisher v${pubVersion} × subscriber v${subVersion}: delivered at min(publish QoS, subscription QoS)`, async (t) => {
    const b = await startBroker()
    t.teardown(() => b.close())
    const sub = await connectClient(b.tcpPort, { protocolVersion: subVersion })
    const inbox = collect(sub)
    for (const s of QOS) await sub.subscribeAsync(`m/${s}/+`, { qos: s })
    const pub = await connectClient(b.tcpPort, { protocolVersion: pubVersion })
    for (const s of QOS) for (const p of QOS) await pub.publishAsync(`m/${s}/${p}`, `${s}${p}`, { qos: p })
    await inbox.waitFor(9)
    for (const { topic, payload, packet } of inbox.messages) {
      const [, s, p] = topic.split('/').map(Number)
      t.equal(packet.qos, Math.min(s!, p!), `${topic} delivered at QoS ${Math.min(s!, p!)}`)
      t.equal(payload.toString(), `${s}${p}`)
    }
    t.equal(inbox.messages.length, 9, 'each message once')
    await end(pub)
    await end(sub)
  })
}

for (const version of [4, 5] as const) {
  t.test(`v${version}: full QoS 2 flow on the publishing and the receiving side`, async (t) => {
    const b = await startBroker()
    t.teardown(() => b.close())
    const seen: string[] = []
    const trace = (who: string, dir: string) => (p: Packet) => {
      if (p.cmd.startsWith('pub')) seen.push(`${who} ${dir} ${p.cmd}`)
    }
    const sub = await connectClient(b.tcpPort, { protocolVersion: version, clientId: 'q2-sub' })
    const inbox = collect(sub)
    await sub.subscribeAsync('q2/t', { qos: 2 })
    const pub = await connectClient(b.tcpPort, { protocolVersion: version, clientId: 'q2-pub' })
    pub.on('packetsend', trace('pub', '>'))
    pub.on('packetreceive', trace('pub', '<'))
    sub.on('packetsend', trace('sub', '>'))
    sub.on('packetreceive', trace('sub', '<'))
    await pub.publishAsync('q2/t', 'exactly once', { qos: 2 })
    const [msg] = await inbox.waitFor(1)
    t.equal(msg!.packet.qos, 2)
    await until(() => seen.includes('sub > pubcomp'), 'the subscriber\'s PUBCOMP')
    const pubSide = seen.filter((s) => s.startsWith('pub'))
    const subSide = seen.filter((s) => s.startsWith('sub'))
    t.same(pubSide, ['pub > publish', 'pub < pubrec', 'pub > pubrel', 'pub < pubcomp'], 'publisher: PUBLISH, PUBREC, PUBREL, PUBCOMP')
    t.same(subSide, ['sub < publish', 'sub > pubrec', 'sub < pubrel', 'sub > pubcomp'], 'subscriber: PUBLISH, PUBREC, PUBREL, PUBCOMP')
    await end(pub)
    await end(sub)
  })
}

t.test('a QoS 2 PUBLISH resent with the same packet id before PUBREL is delivered once', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const inbox = collect(sub)
  await sub.subscribeAsync('dup/t', { qos: 2 })
  for (const version of [4, 5] as const) {
    const { raw } = await rawConnect(b.tcpPort, version, { clientId: `dup-${version}` })
    t.teardown(() => raw.socket.destroy())
    const before = inbox.messages.length
    raw.send({ cmd: 'publish', topic: 'dup/t', payload: Buffer.from(`v${version}`), qos: 2, messageId: 7, dup: false, retain: false })
    t.equal((await raw.take('pubrec')).messageId, 7)
    raw.send({ cmd: 'publish', topic: 'dup/t', payload: Buffer.from(`v${version}`), qos: 2, messageId: 7, dup: true, retain: false })
    t.equal((await raw.take('pubrec')).messageId, 7, 'the resent PUBLISH is acknowledged again')
    raw.send({ cmd: 'pubrel', messageId: 7 })
    t.equal((await raw.take('pubcomp')).messageId, 7)
    await inbox.waitFor(before + 1)
    // The PUBCOMP came after the broker handled both PUBLISH packets: a second delivery was routed before this probe.
    await inbox.probe(b.broker, 'dup/t')
    t.equal(inbox.messages.length, before + 1, `v${version}: delivered once`)
    // After PUBCOMP the packet id is free again: a new PUBLISH with it is a new message.
    raw.send({ cmd: 'publish', topic: 'dup/t', payload: Buffer.from('again'), qos: 2, messageId: 7, dup: false, retain: false })
    await raw.take('pubrec')
    raw.send({ cmd: 'pubrel', messageId: 7 })
    await raw.take('pubcomp')
    await inbox.waitFor(before + 2)
    t.equal(inbox.messages.at(-1)!.payload.toString(), 'again')
  }
  await end(sub)
})

t.test('mqtt.upgrade_qos delivers at the subscription QoS, live and retained', async (t) => {
  const b = await startBroker({ mqtt: { upgrade_qos: true } })
  t.teardown(() => b.close())
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  await pub.publishAsync('up/retained', 'r', { qos: 0, retain: true })
  const sub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const inbox = collect(sub)
  await sub.subscribeAsync('up/+', { qos: 2 })
  const [retained] = await inbox.waitFor(1)
  t.equal(retained!.topic, 'up/retained')
  t.equal(retained!.packet.qos, 2, 'retained QoS 0 message upgraded to the subscription QoS')
  await pub.publishAsync('up/live', 'l', { qos: 0 })
  await pub.publishAsync('up/live', 'l1', { qos: 1 })
  const msgs = await inbox.waitFor(3)
  t.same(msgs.slice(1).map((m) => m.packet.qos), [2, 2], 'QoS 0 and 1 upgraded to 2')
  await end(pub)
  await end(sub)
})

t.test('mqtt.max_qos_allowed = 1', async (t) => {
  const b = await startBroker({ mqtt: { max_qos_allowed: 1 } })
  t.teardown(() => b.close())

  t.test('SUBACK grants at most QoS 1 and CONNACK announces Maximum QoS', async (t) => {
    for (const version of [4, 5] as const) {
      const { raw, connack } = await rawConnect(b.tcpPort, version)
      t.teardown(() => raw.socket.destroy())
      if (version === 5) t.equal(connack.properties?.maximumQoS, 1)
      raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'mq/a', qos: 2 }, { topic: 'mq/b', qos: 0 }] })
      t.same((await raw.take('suback')).granted, [1, 0], `v${version}: QoS 2 request granted 1`)
    }
  })

  t.test('a v5 QoS 2 PUBLISH gets DISCONNECT 0x9B and is not delivered', async (t) => {
    const sub = await connectClient(b.tcpPort, { protocolVersion: 5 })
    const inbox = collect(sub)
    await sub.subscribeAsync('mq/#', { qos: 1 })
    const { raw } = await rawConnect(b.tcpPort, 5)
    t.teardown(() => raw.socket.destroy())
    raw.send({ cmd: 'publish', topic: 'mq/x', payload: Buffer.from('two'), qos: 2, messageId: 1, dup: false, retain: false })
    const disconnect = await raw.take('disconnect')
    t.equal(disconnect.reasonCode, 0x9b)
    t.ok(await within(2000, raw.closed), 'connection closed')
    // The DISCONNECT came after the broker handled the PUBLISH: a delivery was routed before this probe.
    await inbox.probe(b.broker, 'mq/probe')
    t.equal(inbox.messages.length, 0, 'not delivered')
    await end(sub)
  })

  t.test('a v3.1.1 QoS 2 PUBLISH closes the connection', async (t) => {
    const { raw } = await rawConnect(b.tcpPort, 4)
    t.teardown(() => raw.socket.destroy())
    raw.send({ cmd: 'publish', topic: 'mq/x', payload: Buffer.from('two'), qos: 2, messageId: 1, dup: false, retain: false })
    t.ok(await within(2000, raw.closed), 'connection closed')
    t.notOk(raw.packets.some((p) => p.cmd === 'pubrec'), 'no PUBREC')
  })
})
