// The packet handlers through the Channel, without sockets: dispatch(channel, packet) hands a packet to
// its handler, which writes replies to the channel's Wire; here the wire parses them back into packets.
import t, { type Test } from 'tap'
import mqtt, { type Packet, type IConnectPacket, type IPublishPacket } from 'mqtt-packet'
import { Channel, type Wire } from '../../src/mqtt/channel.js'
import { Core } from '../../src/mqtt/core.js'
import { dispatch } from '../../src/mqtt/dispatch.js'
import { loadConfig } from '../../src/config/load.js'
import { silentLog } from '../../src/log.js'
import { createMessage } from '../../src/mqtt/message.js'
import { RC } from '../../src/mqtt/reason-codes.js'

/** A wire that keeps what the channel sends, as packets. */
class PacketWire implements Wire {
  readonly packets: Packet[] = []
  ended = false
  readonly unsentBytes = 0
  readonly bufferedBytes = 0
  #parser: ReturnType<typeof mqtt.parser>

  constructor (protocolVersion: number) {
    this.#parser = mqtt.parser({ protocolVersion })
    this.#parser.on('packet', (p: Packet) => this.packets.push(p))
    this.#parser.on('error', (err: Error) => { throw err })
  }

  write (buf: Buffer): void { this.#parser.parse(buf) }
  flush (): void {}
  end (): void { this.ended = true }

  /** Takes the packets received so far. */
  take (): Packet[] { return this.packets.splice(0) }

  /** Takes the first packet received, which must be a `cmd`. */
  next<C extends Packet['cmd']> (cmd: C): Extract<Packet, { cmd: C }> {
    const packet = this.packets.shift()
    if (packet?.cmd !== cmd) throw new Error(`expected ${cmd}, got ${packet?.cmd ?? 'nothing'}`)
    return packet as Extract<Packet, { cmd: C }>
  }
}

function makeCore (t: Test, hocon = ''): Core {
  const core = new Core({ config: loadConfig({ config: hocon, env: {} }).config, log: silentLog() })
  t.teardown(() => core.close())
  return core
}

function open (core: Core, protocolVersion: 4 | 5 = 5) {
  const wire = new PacketWire(protocolVersion)
  const channel = new Channel(core, wire, { id: 'test:default', mountpoint: '' }, { remoteAddress: '192.0.2.1', remotePort: 1000, transport: 'test' })
  core.connections.add(channel)
  return { channel, wire }
}

function connectPacket (clientId: string, extra: Partial<IConnectPacket> = {}): IConnectPacket {
  return { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 30, clientId, ...extra }
}

async function connected (core: Core, clientId: string, extra: Partial<IConnectPacket> = {}) {
  const client = open(core, (extra.protocolVersion ?? 5) as 4 | 5)
  await dispatch(client.channel, connectPacket(clientId, extra))
  const connack = client.wire.next('connack')
  if ((connack.reasonCode ?? connack.returnCode) !== 0) throw new Error(`not connected: ${JSON.stringify(connack)}`)
  return client
}

t.test('CONNECT: CONNACK with what the broker allows; the channel is registered under its client id', async (t) => {
  const core = makeCore(t, 'mqtt { max_qos_allowed = 1, max_topic_alias = 5 }')
  const { channel, wire } = open(core)
  await dispatch(channel, connectPacket('c1', { properties: { receiveMaximum: 3, topicAliasMaximum: 2, maximumPacketSize: 1000 } }))
  const connack = wire.next('connack')
  t.equal(connack.reasonCode, RC.SUCCESS, 'accepted')
  t.equal(connack.properties?.maximumQoS, 1, 'Maximum QoS from mqtt.max_qos_allowed')
  t.equal(connack.properties?.topicAliasMaximum, 5, 'Topic Alias Maximum from mqtt.max_topic_alias')
  t.equal(channel.state, 'connected')
  t.equal(core.clients.get('c1'), channel, 'registered')
  t.equal(channel.sendWindow, 3, 'send window from Receive Maximum')
  t.equal(channel.aliasOutMax, 2, 'aliases the broker may assign')
  t.equal(channel.maxOutgoingPacket, 1000, 'the client\'s Maximum Packet Size')
  t.equal(channel.keepalive, 30)
})

t.test('CONNECT refusals are CONNACK with the reason, then the wire is ended', async (t) => {
  const core = makeCore(t, 'mqtt { max_clientid_len = 23 }')
  const { channel, wire } = open(core)
  await dispatch(channel, connectPacket('x'.repeat(24)))
  const connack = wire.next('connack')
  t.equal(connack.reasonCode, RC.CLIENT_IDENTIFIER_NOT_VALID, 'Client Identifier not valid')
  t.equal(connack.properties?.reasonString, 'client identifier longer than mqtt.max_clientid_len (23)', 'with the reason')
  t.ok(wire.ended, 'closed')
  t.equal(channel.state, 'closed')
  t.equal(core.connections.has(channel), false, 'the core forgot it')

  const v3 = open(core, 4)
  await dispatch(v3.channel, connectPacket('', { protocolVersion: 4, clean: false }))
  t.equal(v3.wire.next('connack').returnCode, 2, 'MQTT 3.1.1: identifier rejected (2) for an empty id without clean session')
})

t.test('packets out of order are protocol errors the connection turns into a DISCONNECT', async (t) => {
  const core = makeCore(t)
  const fresh = open(core)
  t.throws(() => dispatch(fresh.channel, { cmd: 'pingreq' }), { code: 'CULEX_ERR_MQTT_PROTOCOL', message: /before CONNECT/ }, 'PINGREQ before CONNECT')
  t.same(fresh.wire.take(), [], 'nothing is sent before CONNECT [MQTT-3.1.0-1]')

  const { channel, wire } = await connected(core, 'twice')
  let error: unknown
  try { dispatch(channel, connectPacket('twice')) } catch (err) { error = err }
  t.match(error, { code: 'CULEX_ERR_MQTT_PROTOCOL', message: /second CONNECT/ }, 'a second CONNECT')
  channel.protocolError(error)
  t.equal(wire.next('disconnect').reasonCode, RC.PROTOCOL_ERROR, 'DISCONNECT 0x82')
  t.ok(wire.ended, 'and closed')
  t.equal(core.clients.has('twice'), false, 'the client is gone')
})

t.test('PINGREQ is answered with PINGRESP', async (t) => {
  const core = makeCore(t)
  const { channel, wire } = await connected(core, 'pinger')
  await dispatch(channel, { cmd: 'pingreq' })
  t.same(wire.take().map((p) => p.cmd), ['pingresp'])
})

t.test('QoS 1 from one channel to another: PUBACK to the publisher, PUBLISH to the subscriber, its PUBACK ends the flight', async (t) => {
  const core = makeCore(t)
  const sub = await connected(core, 'sub')
  await dispatch(sub.channel, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 1 }] })
  t.same(sub.wire.next('suback').granted, [1], 'SUBACK grants QoS 1')

  const pub = await connected(core, 'pub')
  await dispatch(pub.channel, { cmd: 'publish', topic: 'a/b', payload: Buffer.from('hi'), qos: 1, retain: false, dup: false, messageId: 7 })
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(pub.wire.next('puback').messageId, 7, 'PUBACK for the packet id')

  const delivered = sub.wire.next('publish')
  t.equal(delivered.topic, 'a/b')
  t.equal(String(delivered.payload), 'hi')
  t.equal(delivered.qos, 1)
  t.equal(sub.channel.session!.inflight.size, 1, 'in flight until acknowledged')
  await dispatch(sub.channel, { cmd: 'puback', messageId: delivered.messageId! })
  t.equal(sub.channel.session!.inflight.size, 0, 'acknowledged')
})

t.test('QoS 2 from the client: PUBREC, then PUBCOMP for its PUBREL; the message is delivered once', async (t) => {
  const core = makeCore(t)
  const sub = await connected(core, 'sub2')
  await dispatch(sub.channel, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'q2', qos: 0 }] })
  sub.wire.take()
  const pub = await connected(core, 'pub2')
  const publish: IPublishPacket = { cmd: 'publish', topic: 'q2', payload: Buffer.from('once'), qos: 2, retain: false, dup: false, messageId: 9 }
  await dispatch(pub.channel, publish)
  await dispatch(pub.channel, { ...publish, dup: true })
  await new Promise((resolve) => setImmediate(resolve))
  t.same(pub.wire.take().map((p) => [p.cmd, p.messageId]), [['pubrec', 9], ['pubrec', 9]], 'PUBREC for each, the duplicate too')
  t.equal(sub.wire.take().length, 1, 'delivered once')
  await dispatch(pub.channel, { cmd: 'pubrel', messageId: 9 })
  t.same(pub.wire.take().map((p) => [p.cmd, p.messageId]), [['pubcomp', 9]])
})

t.test('Topic Alias: set with the first PUBLISH, used alone after; subscribers get the full topic', async (t) => {
  const core = makeCore(t)
  const sub = await connected(core, 'alias-sub')
  await dispatch(sub.channel, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'long/topic/name', qos: 0 }] })
  sub.wire.take()
  const pub = await connected(core, 'alias-pub')
  const base = { cmd: 'publish', qos: 0, retain: false, dup: false } as const
  await dispatch(pub.channel, { ...base, topic: 'long/topic/name', payload: Buffer.from('1'), properties: { topicAlias: 1 } })
  await dispatch(pub.channel, { ...base, topic: '', payload: Buffer.from('2'), properties: { topicAlias: 1 } })
  t.same((sub.wire.take() as IPublishPacket[]).map((p) => [p.topic, String(p.payload)]), [['long/topic/name', '1'], ['long/topic/name', '2']])
  t.throws(() => dispatch(pub.channel, { ...base, topic: '', payload: Buffer.from('3'), properties: { topicAlias: 2 } }),
    { code: 'CULEX_ERR_MQTT_PROTOCOL' }, 'an alias never set is a protocol error')
})

t.test('a connection lost without DISCONNECT publishes the will; one ended with DISCONNECT 0x00 does not', async (t) => {
  const core = makeCore(t)
  const watcher = await connected(core, 'watcher')
  await dispatch(watcher.channel, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'wills/#', qos: 0 }] })
  watcher.wire.take()
  const will = { topic: 'wills/a', payload: Buffer.from('gone'), qos: 0 as const, retain: false }

  const lost = await connected(core, 'lost', { will })
  lost.channel.ended('connection lost')
  t.same((watcher.wire.take() as IPublishPacket[]).map((p) => String(p.payload)), ['gone'], 'will published')

  const polite = await connected(core, 'polite', { will })
  await dispatch(polite.channel, { cmd: 'disconnect', reasonCode: 0 })
  t.ok(polite.wire.ended, 'DISCONNECT closes')
  polite.channel.ended('closed')
  t.same(watcher.wire.take(), [], 'no will after a normal DISCONNECT')
})

t.test('a persistent session: Session Present on return, with what was queued while away', async (t) => {
  const core = makeCore(t)
  const first = await connected(core, 'keeper', { clean: false, properties: { sessionExpiryInterval: 60 } })
  await dispatch(first.channel, { cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'k', qos: 1 }] })
  first.channel.ended('connection lost')
  core.publish(createMessage('k', Buffer.from('while away'), 1, false), null)

  const again = open(core)
  await dispatch(again.channel, connectPacket('keeper', { clean: false, properties: { sessionExpiryInterval: 60 } }))
  t.equal(again.wire.next('connack').sessionPresent, true, 'Session Present')
  t.equal(String(again.wire.next('publish').payload), 'while away', 'the queued message follows CONNACK')
})
