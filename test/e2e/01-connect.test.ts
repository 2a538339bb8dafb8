// CONNECT validation for MQTT 3.1, 3.1.1 and 5, the CONNACK properties, and the authenticate hook.
import t from 'tap'
import type { IConnackPacket, IConnectPacket } from 'mqtt-packet'
import { connectClient, delay, end, rawMqtt, rawSocket, startBroker, within } from '../helpers.js'

type ConnectOptions = Partial<IConnectPacket> & { protocolVersion: 3 | 4 | 5 }

function connectPacket (opts: ConnectOptions): IConnectPacket {
  return {
    cmd: 'connect',
    protocolId: opts.protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    clean: true,
    keepalive: 0,
    clientId: 'c1',
    ...opts,
  }
}

/** A minimal CONNECT built by hand, for what mqtt-packet refuses to generate (empty ids before 3.1.1, ...). */
function handConnect (level: 3 | 4 | 5 | 6, clientId: string, clean: boolean): Buffer {
  const str = (s: string) => { const b = Buffer.from(s); return Buffer.concat([Buffer.from([b.length >> 8, b.length & 0xff]), b]) }
  const body = Buffer.concat([
    str(level === 3 ? 'MQIsdp' : 'MQTT'),
    Buffer.from([level, clean ? 0x02 : 0x00, 0x00, 0x00]),
    level === 5 ? Buffer.from([0x00]) : Buffer.alloc(0),
    str(clientId),
  ])
  if (body.length > 127) throw new Error('handConnect: body too long for a one-byte remaining length')
  return Buffer.concat([Buffer.from([0x10, body.length]), body])
}

/** Writes bytes on a raw socket and returns the CONNACK they earn. */
async function handConnack (port: number, level: 3 | 4 | 5, bytes: Buffer) {
  const raw = await rawMqtt(port, level)
  raw.socket.write(bytes)
  const ack: IConnackPacket = await raw.take('connack')
  return { ack, raw }
}

/** Sends one CONNECT on a raw socket and returns the CONNACK and whether the broker then closed. */
async function connack (port: number, opts: ConnectOptions) {
  const raw = await rawMqtt(port, opts.protocolVersion)
  raw.send(connectPacket(opts))
  const ack: IConnackPacket = await raw.take('connack')
  return { ack, raw }
}

t.test('MQTT 3.1 (MQIsdp, level 3)', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())

  const ok = await connack(b.tcpPort, { protocolVersion: 3, clientId: 'v31-client' })
  t.equal(ok.ack.returnCode, 0, 'accepted')
  ok.raw.socket.destroy()

  const empty = await handConnack(b.tcpPort, 3, handConnect(3, '', true))
  t.equal(empty.ack.returnCode, 2, 'an empty client id is rejected with return code 2')
  t.ok(await within(2000, empty.raw.closed), 'and the connection is closed')

  const client = await connectClient(b.tcpPort, { protocolId: 'MQIsdp', protocolVersion: 3, clientId: 'v31-mqttjs' })
  t.ok(client.connected, 'MQTT.js connects with protocolId MQIsdp')
  await end(client)
})

t.test('MQTT 3.1.1 empty client id', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())

  const persistent = await handConnack(b.tcpPort, 4, handConnect(4, '', false))
  t.equal(persistent.ack.returnCode, 2, 'clean session 0 with an empty id → return code 2 [MQTT-3.1.3-8]')
  t.equal(persistent.ack.sessionPresent, false)
  t.ok(await within(2000, persistent.raw.closed), 'then the connection is closed')

  const clean = await connack(b.tcpPort, { protocolVersion: 4, clientId: '', clean: true })
  t.equal(clean.ack.returnCode, 0, 'clean session 1 with an empty id is accepted')
  // The connection is usable: a PINGREQ is answered.
  clean.raw.send({ cmd: 'pingreq' })
  await clean.raw.take('pingresp')
  clean.raw.socket.destroy()
})

t.test('MQTT 5 empty client id gets an Assigned Client Identifier', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const { ack, raw } = await connack(b.tcpPort, { protocolVersion: 5, clientId: '' })
  t.equal(ack.reasonCode, 0)
  const assigned = ack.properties?.assignedClientIdentifier
  t.type(assigned, 'string')
  t.ok(assigned && assigned.length > 0 && assigned.length <= 23, 'a non-empty identifier')
  t.ok(b.broker.core.clients.has(assigned!), 'the broker knows the client by that identifier')

  const second = await connack(b.tcpPort, { protocolVersion: 5, clientId: '' })
  t.not(second.ack.properties?.assignedClientIdentifier, assigned, 'each client gets its own identifier')
  t.notOk(raw.isClosed(), 'the first client was not taken over')
  raw.socket.destroy()
  second.raw.socket.destroy()
})

t.test('client id longer than mqtt.max_clientid_len', async (t) => {
  const b = await startBroker({ mqtt: { max_clientid_len: 23 } })
  t.teardown(() => b.close())
  const long = 'x'.repeat(24)

  const v5 = await connack(b.tcpPort, { protocolVersion: 5, clientId: long })
  t.equal(v5.ack.reasonCode, 0x85, 'MQTT 5: 0x85 Client Identifier not valid')
  t.ok(await within(2000, v5.raw.closed), 'closed')

  const v4 = await connack(b.tcpPort, { protocolVersion: 4, clientId: long })
  t.equal(v4.ack.returnCode, 2, 'MQTT 3.1.1: return code 2')
  t.ok(await within(2000, v4.raw.closed), 'closed')

  const v3 = await connack(b.tcpPort, { protocolVersion: 3, clientId: long })
  t.equal(v3.ack.returnCode, 2, 'MQTT 3.1: return code 2')

  const exact = await connack(b.tcpPort, { protocolVersion: 4, clientId: 'y'.repeat(23) })
  t.equal(exact.ack.returnCode, 0, 'exactly max_clientid_len is accepted')
  exact.raw.socket.destroy()
  v3.raw.socket.destroy()
})

t.test('unsupported protocol level → CONNACK 0x01 then close [MQTT-3.1.2-2]', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const { socket, received, closed } = await rawSocket(b.tcpPort)
  socket.write(handConnect(6, 'a', true))
  t.ok(await within(2000, closed), 'the broker closes the connection')
  t.same([...received()], [0x20, 0x02, 0x00, 0x01], 'after CONNACK with return code 1')
})

t.test('protocol name that does not match the level → unsupported protocol version', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const v4 = await connack(b.tcpPort, { protocolVersion: 4, protocolId: 'MQIsdp' })
  t.equal(v4.ack.returnCode, 1, 'MQIsdp at level 4 → return code 1')
  t.ok(await within(2000, v4.raw.closed))
  const v3 = await connack(b.tcpPort, { protocolVersion: 3, protocolId: 'MQTT' })
  t.equal(v3.ack.returnCode, 1, 'MQTT at level 3 → return code 1')
  const v5 = await connack(b.tcpPort, { protocolVersion: 5, protocolId: 'MQIsdp' })
  t.equal(v5.ack.reasonCode, 0x84, 'MQIsdp at level 5 → 0x84')
  v3.raw.socket.destroy()
  v5.raw.socket.destroy()
})

t.test('will QoS and retain beyond what the broker supports are refused in CONNACK', async (t) => {
  const b = await startBroker({ mqtt: { max_qos_allowed: 1, retain_available: false } })
  t.teardown(() => b.close())
  const qos = await connack(b.tcpPort, { protocolVersion: 5, will: { topic: 'w', payload: Buffer.from('x'), qos: 2, retain: false } })
  t.equal(qos.ack.reasonCode, 0x9b, 'Will QoS 2 over Maximum QoS 1 → 0x9B [MQTT-3.2.2-12]')
  t.ok(await within(2000, qos.raw.closed))
  const retain = await connack(b.tcpPort, { protocolVersion: 5, will: { topic: 'w', payload: Buffer.from('x'), qos: 0, retain: true } })
  t.equal(retain.ack.reasonCode, 0x9a, 'Will Retain without retain support → 0x9A [MQTT-3.2.2-13]')
  const ok = await connack(b.tcpPort, { protocolVersion: 5, will: { topic: 'w', payload: Buffer.from('x'), qos: 1, retain: false } })
  t.equal(ok.ack.reasonCode, 0, 'a will within the limits is accepted')
  retain.raw.socket.destroy()
  ok.raw.socket.destroy()
})

t.test('mqtt.use_username_as_clientid', async (t) => {
  const b = await startBroker({ mqtt: { use_username_as_clientid: true } })
  t.teardown(() => b.close())
  const named = await connack(b.tcpPort, { protocolVersion: 4, clientId: 'ignored', username: 'alice' })
  t.equal(named.ack.returnCode, 0)
  t.ok(b.broker.core.clients.has('alice'), 'registered under the user name')
  t.notOk(b.broker.core.clients.has('ignored'))
  const anonymous = await connack(b.tcpPort, { protocolVersion: 5, clientId: 'someone' })
  t.equal(anonymous.ack.reasonCode, 0x85, 'no user name → 0x85')
  named.raw.socket.destroy()
  anonymous.raw.socket.destroy()
})

t.test('MQTT 5 CONNACK properties with the default configuration', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const { ack, raw } = await connack(b.tcpPort, { protocolVersion: 5, properties: { sessionExpiryInterval: 60 } })
  const p = ack.properties ?? {}
  t.equal(ack.reasonCode, 0)
  t.equal(p.maximumPacketSize, 1024 * 1024, 'Maximum Packet Size = mqtt.max_packet_size')
  t.equal(p.topicAliasMaximum, 10, 'Topic Alias Maximum = mqtt.max_topic_alias (10 by default, as Mosquitto)')
  t.equal(p.receiveMaximum, 100, 'Receive Maximum = mqtt.max_awaiting_rel')
  t.equal(p.retainAvailable, undefined, 'Retain Available absent while retain is available')
  t.equal(p.maximumQoS, undefined, 'Maximum QoS absent while QoS 2 is allowed')
  t.equal(p.serverKeepAlive, undefined, 'no Server Keep Alive unless configured')
  t.equal(p.sessionExpiryInterval, undefined, 'no Session Expiry Interval when the request is under the ceiling')
  t.equal(p.wildcardSubscriptionAvailable, undefined, 'wildcards available: not announced')
  t.equal(p.sharedSubscriptionAvailable, undefined, 'shared subscriptions available: not announced')
  t.equal(p.responseInformation, undefined, 'no Response Information unless configured')
  raw.socket.destroy()
})

t.test('MQTT 5 CONNACK properties reflect the limits configured', async (t) => {
  const b = await startBroker({
    mqtt: {
      max_packet_size: '64KB',
      max_topic_alias: 10,
      max_awaiting_rel: 5,
      retain_available: false,
      max_qos_allowed: 1,
      server_keepalive: '7s',
      session_expiry_interval: '30s',
      wildcard_subscription: false,
      shared_subscription: false,
      response_information: 'replies/',
    },
  })
  t.teardown(() => b.close())
  const { ack, raw } = await connack(b.tcpPort, { protocolVersion: 5, keepalive: 60, properties: { sessionExpiryInterval: 3600, requestResponseInformation: true } })
  const p = ack.properties ?? {}
  t.equal(ack.reasonCode, 0)
  t.equal(p.maximumPacketSize, 64 * 1024)
  t.equal(p.topicAliasMaximum, 10)
  t.equal(p.receiveMaximum, 5)
  t.equal(p.retainAvailable, false, 'Retain Available 0 when retain is disabled')
  t.equal(p.maximumQoS, 1, 'Maximum QoS when limited')
  t.equal(p.serverKeepAlive, 7, 'Server Keep Alive = mqtt.server_keepalive in seconds')
  t.equal(p.sessionExpiryInterval, 30, 'Session Expiry Interval capped at the ceiling')
  t.equal(p.wildcardSubscriptionAvailable, false)
  t.equal(p.sharedSubscriptionAvailable, false)
  t.equal(p.responseInformation, 'replies/', 'Response Information when requested')
  t.equal(b.broker.core.sessions.get('c1')?.expiryInterval, 30, 'and the session uses the capped value')
  raw.socket.destroy()

  // MQTT 3.1.1 CONNACK has no properties: the same limits do not break it.
  const v4 = await connack(b.tcpPort, { protocolVersion: 4, clientId: 'v4' })
  t.equal(v4.ack.returnCode, 0)
  t.equal(v4.ack.properties, undefined)
  v4.raw.socket.destroy()
})

t.test('Topic Alias Maximum 0 is not announced; Maximum QoS 0 is', async (t) => {
  const b = await startBroker({ mqtt: { max_topic_alias: 0, max_qos_allowed: 0 } })
  t.teardown(() => b.close())
  const { ack, raw } = await connack(b.tcpPort, { protocolVersion: 5 })
  t.equal(ack.properties?.topicAliasMaximum, undefined, 'absent means 0 [MQTT-3.2.2.3.8]')
  t.equal(ack.properties?.maximumQoS, 0, 'Maximum QoS 0 is sent, absent would mean 2')
  raw.socket.destroy()
})

t.test('authenticate hook denies', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const seen: { clientId: string, username: string | undefined, password: string | undefined }[] = []
  b.broker.addHook('authenticate', (client, creds) => {
    seen.push({ clientId: client.clientId, username: creds.username, password: creds.password?.toString() })
    if (creds.username === 'bad-password') return { result: 'deny', reasonCode: 0x86, reason: 'bad user name or password' }
    if (creds.username === 'good') return { result: 'ok' }
    return { result: 'deny' }
  })

  const v5bad = await connack(b.tcpPort, { protocolVersion: 5, clientId: 'a1', username: 'bad-password', password: Buffer.from('x') })
  t.equal(v5bad.ack.reasonCode, 0x86, 'MQTT 5: the hook\'s 0x86')
  t.equal(v5bad.ack.properties?.reasonString, 'bad user name or password')
  t.ok(await within(2000, v5bad.raw.closed))

  const v5deny = await connack(b.tcpPort, { protocolVersion: 5, clientId: 'a2', username: 'someone' })
  t.equal(v5deny.ack.reasonCode, 0x87, 'MQTT 5: a plain deny is 0x87 Not authorized')

  const v4bad = await connack(b.tcpPort, { protocolVersion: 4, clientId: 'a3', username: 'bad-password', password: Buffer.from('y') })
  t.equal(v4bad.ack.returnCode, 4, 'MQTT 3.1.1: 0x86 becomes return code 4')
  t.ok(await within(2000, v4bad.raw.closed))

  const v4deny = await connack(b.tcpPort, { protocolVersion: 4, clientId: 'a4' })
  t.equal(v4deny.ack.returnCode, 5, 'MQTT 3.1.1: deny becomes return code 5')

  const v3deny = await connack(b.tcpPort, { protocolVersion: 3, clientId: 'a5', username: 'nobody' })
  t.equal(v3deny.ack.returnCode, 5, 'MQTT 3.1: return code 5')

  const ok = await connectClient(b.tcpPort, { protocolVersion: 5, clientId: 'a6', username: 'good', password: 'pw' })
  t.ok(ok.connected, 'an accepted client connects')
  t.same(seen.at(-1), { clientId: 'a6', username: 'good', password: 'pw' }, 'the hook saw the credentials')
  t.notOk(b.broker.core.clients.has('a4'), 'refused clients are not registered')
  await end(ok)
  v5deny.raw.socket.destroy()
  v4deny.raw.socket.destroy()
  v3deny.raw.socket.destroy()
})

t.test('async authenticate hook: packets sent right after CONNECT are handled after it, in order', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  let answered = false
  b.broker.addHook('authenticate', async () => {
    await delay(150)
    answered = true
    return { result: 'ok' }
  })
  const raw = await rawMqtt(b.tcpPort, 4)
  // One write: CONNECT, SUBSCRIBE, PUBLISH QoS 1 to the topic just subscribed, PINGREQ.
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'async-auth' })
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'auth/order', qos: 1 }] })
  raw.send({ cmd: 'publish', topic: 'auth/order', payload: Buffer.from('one'), qos: 1, retain: false, dup: false, messageId: 2 })
  raw.send({ cmd: 'pingreq' })
  const pub = await raw.take('publish')
  await raw.take('pingresp')
  t.ok(answered)
  t.equal(pub.payload.toString(), 'one', 'the PUBLISH was routed to the subscription made before it')
  const cmds = raw.packets.map((p) => p.cmd)
  t.equal(cmds[0], 'connack', 'CONNACK first')
  t.equal(cmds[1], 'suback', 'then SUBACK')
  t.same(cmds.slice(2).sort(), ['pingresp', 'puback', 'publish'])
  t.ok(cmds.indexOf('puback') < cmds.indexOf('pingresp'), 'PUBACK before PINGRESP')
  raw.socket.destroy()
})

t.test('an authenticate hook that throws → CONNACK Server unavailable, not a silent close', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  b.broker.addHook('authenticate', async (client) => {
    if (client.clientId.startsWith('sync')) throw new Error('directory down')
    await delay(20)
    throw new Error('directory down')
  })
  const v5 = await connack(b.tcpPort, { protocolVersion: 5, clientId: 'async-5' })
  t.equal(v5.ack.reasonCode, 0x88, 'MQTT 5: 0x88 Server unavailable')
  t.ok(await within(2000, v5.raw.closed))
  const v4 = await connack(b.tcpPort, { protocolVersion: 4, clientId: 'sync-4' })
  t.equal(v4.ack.returnCode, 3, 'MQTT 3.1.1: return code 3 Server unavailable')
  t.ok(await within(2000, v4.raw.closed))
  t.ok(b.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('authenticate') && l.err !== undefined), 'the error is logged')
})

t.test('async authenticate hook that denies: packets queued behind CONNECT are not handled', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const published: string[] = []
  b.broker.addHook('published', (m) => { published.push(m.topic) })
  b.broker.addHook('authenticate', async () => {
    await delay(100)
    return { result: 'deny' }
  })
  const raw = await rawMqtt(b.tcpPort, 5)
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'denied' })
  raw.send({ cmd: 'publish', topic: 'denied/t', payload: Buffer.from('x'), qos: 0, retain: false, dup: false })
  const ack = await raw.take('connack')
  t.equal(ack.reasonCode, 0x87)
  t.ok(await within(2000, raw.closed), 'closed')
  t.same(published, [], 'the PUBLISH behind the refused CONNECT was not routed')
})
