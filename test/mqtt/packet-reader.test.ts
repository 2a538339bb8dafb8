// The packet reader (src/mqtt/packet-reader.ts) decodes whole PUBLISH packets itself and hands the rest
// to mqtt-packet: the same byte stream, cut at every size from 1 byte to all at once, gives the same
// messages in the same order, for MQTT 3.1.1 and 5 (with and without properties), with PUBACKs for QoS 1.
import t from 'tap'
import mqtt from 'mqtt-packet'
import { collect, connectClient, delay, end, rawConnect, rawSocket, startBroker } from '../helpers.js'

const sizes = [0, 1, 16, 126, 200, 16400]

function stream (version: 4 | 5, clientId: string): { bytes: Buffer, expected: string[], acks: number } {
  const packets: Buffer[] = [mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId, clean: true, keepalive: 30 }, { protocolVersion: version })]
  const expected: string[] = []
  let id = 1
  let acks = 0
  for (const size of sizes) {
    for (const qos of [0, 1] as const) {
      const payload = Buffer.alloc(size, 0x61 + (expected.length % 26))
      const packet: mqtt.IPublishPacket = { cmd: 'publish', topic: `r/${version}/ü/${expected.length}`, payload, qos, retain: false, dup: false }
      if (qos === 1) { packet.messageId = id++; acks++ }
      // Every third MQTT 5 message carries a property: those go through mqtt-packet's parser.
      if (version === 5 && expected.length % 3 === 0) packet.properties = { userProperties: { k: 'v' } }
      packets.push(mqtt.generate(packet, { protocolVersion: version }))
      expected.push(`${packet.topic}:${size}`)
      if (expected.length % 4 === 0) packets.push(mqtt.generate({ cmd: 'pingreq' }))
    }
  }
  return { bytes: Buffer.concat(packets), expected, acks }
}

function pubacks (bytes: Buffer, version: 4 | 5): number {
  const parser = mqtt.parser({ protocolVersion: version })
  let count = 0
  parser.on('packet', (p) => { if (p.cmd === 'puback') count++ })
  parser.parse(bytes)
  return count
}

t.test('one stream, every cut', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  t.teardown(() => end(sub, true))
  const got = collect(sub)
  await sub.subscribeAsync('r/#', { qos: 1 })
  let expectedTotal = 0
  for (const version of [4, 5] as const) {
    for (const cut of [1, 2, 3, 5, 7, 64, 1000, 0]) {
      const { bytes, expected, acks } = stream(version, `cut-${version}-${cut}`)
      const raw = await rawSocket(b.tcpPort)
      const step = cut === 0 ? bytes.length : cut
      for (let i = 0; i < bytes.length; i += step) {
        raw.socket.write(bytes.subarray(i, i + step))
        // Small cuts leave as separate reads only if the broker gets a chance to read in between.
        if (step < 8 && i % (step * 64) === 0) await delay(1)
      }
      expectedTotal += expected.length
      await got.waitFor(expectedTotal)
      const mine = got.messages.slice(expectedTotal - expected.length).map((m) => `${m.topic}:${m.payload.length}`)
      t.same(mine, expected, `MQTT ${version === 5 ? 5 : '3.1.1'}, ${cut === 0 ? 'all at once' : `${cut}-byte pieces`}: every message, in order`)
      const deadline = Date.now() + 2000
      while (pubacks(raw.received(), version) < acks && Date.now() < deadline) await delay(10)
      t.equal(pubacks(raw.received(), version), acks, 'a PUBACK for every QoS 1 message')
      raw.socket.destroy()
    }
  }
  const payloads = got.messages.filter((m) => m.payload.length === 16400)
  t.ok(payloads.every((m) => m.payload.every((c) => c === m.payload[0])), 'large payloads arrive intact across cuts')
})

t.test('acknowledgements read by the reader: QoS 1 and 2 deliveries to a raw subscriber complete, at each protocol level', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  for (const version of [4, 5] as const) {
    const raw = await rawSocket(b.tcpPort)
    const parser = mqtt.parser({ protocolVersion: version })
    let subacked = false
    let sent = 0
    const answer = (ack: mqtt.Packet) => {
      const bytes = mqtt.generate(ack, { protocolVersion: version })
      // The first few in 1-byte pieces: cut-off acknowledgements go to mqtt-packet's parser.
      if (sent++ < 4) for (const byte of bytes) raw.socket.write(Buffer.from([byte]))
      else raw.socket.write(bytes)
    }
    parser.on('packet', (p) => {
      if (p.cmd === 'suback') subacked = true
      else if (p.cmd === 'publish') answer({ cmd: p.qos === 1 ? 'puback' : 'pubrec', messageId: p.messageId! })
      else if (p.cmd === 'pubrel') answer({ cmd: 'pubcomp', messageId: p.messageId! })
    })
    raw.socket.on('data', (c: Buffer) => parser.parse(c))
    raw.socket.write(mqtt.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: version, clientId: `acks-${version}`, clean: true, keepalive: 30 }, { protocolVersion: version }))
    raw.socket.write(mqtt.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'a/#', qos: 2 }] }, { protocolVersion: version }))
    const until = async (pred: () => boolean) => { const deadline = Date.now() + 3000; while (!pred() && Date.now() < deadline) await delay(5) }
    await until(() => subacked)
    const pub = await connectClient(b.tcpPort, { protocolVersion: version })
    for (let i = 0; i < 20; i++) await pub.publishAsync('a/x', `m${i}`, { qos: i % 2 === 0 ? 1 : 2 })
    await end(pub, true)
    const session = b.broker.core.sessions.get(`acks-${version}`)
    await until(() => sent === 30 && session?.inflight.size === 0)
    t.equal(sent, 30, `MQTT ${version === 5 ? 5 : '3.1.1'}: 10 PUBACKs, 10 PUBRECs and 10 PUBCOMPs sent`)
    t.equal(session?.inflight.size, 0, 'nothing left in flight: the broker read every one')
    raw.socket.destroy()
  }
})

t.test('mqtt-packet\'s parser keeps its bytes in a plain BufferList, not a stream (vendor/bl-list)', async (t) => {
  const list = (mqtt.parser() as unknown as { _list: object })._list
  t.equal(list.constructor.name, 'BufferList')
  t.notOk('pipe' in list, 'no stream methods')
})

t.test('mqtt-packet\'s parser is made when a packet needs it and dropped after control packets; one made again reads MQTT 5', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const { raw, connack } = await rawConnect(b.tcpPort, 5, { clientId: 'lazy-parser', properties: { sessionExpiryInterval: 60 } })
  t.teardown(() => raw.socket.destroy())
  t.equal(connack.reasonCode, 0, 'CONNECT with properties accepted')
  const conn = [...b.broker.core.connections].find((c) => c.clientId === 'lazy-parser')!.wire as { holdsParser?: boolean }
  t.equal(conn.holdsParser, false, 'no parser held after CONNECT')

  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'lp/#', qos: 1 }], properties: { subscriptionIdentifier: 7 } })
  t.same((await raw.take('suback')).granted, [1], 'SUBACK')
  t.equal(conn.holdsParser, false, 'none after SUBSCRIBE')

  raw.send({ cmd: 'publish', topic: 'lp/a', payload: Buffer.from('with props'), qos: 1, messageId: 2, retain: false, dup: false, properties: { userProperties: { k: 'v' } } })
  const delivered = await raw.take('publish')
  t.same([delivered.payload.toString(), delivered.properties?.subscriptionIdentifier, delivered.properties?.userProperties], ['with props', 7, { k: 'v' }], 'a PUBLISH with properties is read and delivered with them')
  await raw.take('puback')
  t.equal(conn.holdsParser, true, 'kept while PUBLISH packets with properties come')

  raw.send({ cmd: 'pingreq' })
  await raw.take('pingresp')
  t.equal(conn.holdsParser, true, 'PINGREQ, read without the parser, leaves it as it was')

  raw.send({ cmd: 'unsubscribe', messageId: 3, unsubscriptions: ['lp/#'], properties: { userProperties: { u: '1' } } })
  t.equal((await raw.take('unsuback')).messageId, 3, 'UNSUBACK')
  t.equal(conn.holdsParser, false, 'dropped after UNSUBSCRIBE')

  // A SUBSCRIBE in 1-byte pieces: a new parser, with the protocol level of the CONNECT, reads it whole.
  const bytes = mqtt.generate({ cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: 'lp/b', qos: 1, nl: true }], properties: { subscriptionIdentifier: 9 } }, { protocolVersion: 5 })
  for (const byte of bytes) { raw.socket.write(Buffer.from([byte])); await delay(1) }
  t.same((await raw.take('suback')).granted, [1], 'SUBACK for the SUBSCRIBE read by a new parser')
  t.equal(conn.holdsParser, false, 'and dropped again')
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  await pub.publishAsync('lp/b', 'x', { qos: 1 })
  await end(pub, true)
  t.equal((await raw.take('publish')).properties?.subscriptionIdentifier, 9, 'its MQTT 5 property was read')
})

t.test('an MQTT 3.1.1 DISCONNECT is read without the parser: the will is discarded; one with a reserved flag set is malformed and the will goes out', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort)
  t.teardown(() => end(sub, true))
  const got = collect(sub)
  await sub.subscribeAsync('dw/#', { qos: 0 })
  const will = (topic: string) => ({ topic, payload: Buffer.from('gone'), qos: 0 as const, retain: false })

  const normal = await rawConnect(b.tcpPort, 4, { clientId: 'dw-normal', will: will('dw/normal') })
  t.equal(normal.connack.returnCode, 0, 'connected with a will')
  normal.raw.socket.write(Buffer.from([0xe0, 0x00]))
  await normal.raw.closed
  t.equal(b.broker.core.sessions.get('dw-normal'), undefined, 'the clean session ended with the connection')

  const flagged = await rawConnect(b.tcpPort, 4, { clientId: 'dw-flagged', will: will('dw/flagged') })
  flagged.raw.socket.write(Buffer.from([0xe2, 0x00]))
  await flagged.raw.closed
  const messages = await got.waitFor(1)
  t.same(messages.map((m) => m.topic), ['dw/flagged'], 'only the malformed DISCONNECT\'s will is published')
})

// A CONNECT the reader decodes itself must come out as mqtt-packet's parser reads it: each one below is
// sent whole (read by the reader when it has no properties) and in 1-byte pieces (always the parser).
const connects: { name: string, bytes: Buffer, accepted: boolean }[] = (() => {
  const gen = (p: Partial<mqtt.IConnectPacket>, v: 3 | 4 | 5) => mqtt.generate({ cmd: 'connect', protocolId: v === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: v, clean: true, keepalive: 30, clientId: '', ...p } as mqtt.IConnectPacket, { protocolVersion: v })
  const will = (qos: 0 | 1 | 2, retain: boolean) => ({ topic: 'cw/ü', payload: Buffer.from([0, 1, 2, 0xff]), qos, retain })
  const plain = gen({ clientId: 'cr-plain' }, 4)
  const patched = (bytes: Buffer, at: number, value: number) => { const b = Buffer.from(bytes); b[at] = value; return b }
  return [
    { name: 'MQTT 3.1.1, client id only', bytes: plain, accepted: true },
    { name: 'MQTT 3.1.1, user name and password', bytes: gen({ clientId: 'cr-user', username: 'ü-user', password: Buffer.from('pw') }, 4), accepted: true },
    { name: 'MQTT 3.1.1, will QoS 1 retained', bytes: gen({ clientId: 'cr-will', will: will(1, true), clean: false, keepalive: 5 }, 4), accepted: true },
    { name: 'MQTT 3.1, will and user name', bytes: gen({ clientId: 'cr-31', will: will(2, false), username: 'u31' }, 3), accepted: true },
    { name: 'MQTT 5 without properties, will, user name and password', bytes: gen({ clientId: 'cr-5', will: will(0, false), username: 'u5', password: Buffer.from('p5') }, 5), accepted: true },
    { name: 'MQTT 5 with properties', bytes: gen({ clientId: 'cr-5p', properties: { sessionExpiryInterval: 10 } }, 5), accepted: true },
    { name: 'a trailing byte after the last field (mqtt-packet ignores it)', bytes: Buffer.concat([patched(plain, 1, plain[1]! + 1).subarray(0, plain.length), Buffer.from([0x41])]), accepted: true },
    { name: 'reserved connect flag set', bytes: patched(plain, 9, plain[9]! | 0x01), accepted: false },
    { name: 'will QoS without the will flag', bytes: patched(plain, 9, plain[9]! | 0x08), accepted: false },
    { name: 'will retain without the will flag', bytes: patched(plain, 9, plain[9]! | 0x20), accepted: false },
    { name: 'protocol name MQTX', bytes: patched(plain, 7, 0x58), accepted: false },
    { name: 'protocol level 6 (CONNACK 1, then closed)', bytes: patched(plain, 8, 6), accepted: false },
    { name: 'client id longer than the packet', bytes: patched(plain, 13, 0x40), accepted: false },
    { name: 'password flag without user name flag (MQTT 3.1.1)', bytes: (() => { const b = gen({ clientId: 'cr-pw', username: 'x', password: Buffer.from('p') }, 4); return Buffer.concat([Buffer.from([0x10, b[1]! - 3]), patched(b, 9, b[9]! & ~0x80).subarray(2, 19), b.subarray(22)]) })(), accepted: false },
  ]
})()

t.test('a CONNECT read by the reader comes out as mqtt-packet reads it, whole or in 1-byte pieces', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort)
  t.teardown(() => end(sub, true))
  const wills = collect(sub)
  await sub.subscribeAsync('cw/#', { qos: 2 })
  const seen: string[] = []
  for (const { name, bytes, accepted } of connects) {
    const views: string[] = []
    for (const pieces of [false, true]) {
      const raw = await rawSocket(b.tcpPort)
      if (pieces) for (const byte of bytes) { raw.socket.write(Buffer.from([byte])); await delay(1) } else raw.socket.write(bytes)
      let open = true
      await Promise.race([raw.closed.then(() => { open = false }), (async () => { while (open && raw.received().length < 4) await delay(5) })()])
      // 'data' comes before 'close': a CONNACK sent just before the close is in what was received.
      const answer = raw.received()
      const outcome = answer.length >= 4 && answer[0] === 0x20 ? `CONNACK ${answer[3]}` : 'closed'
      let view = outcome
      if (outcome !== 'CONNACK 0') raw.socket.destroy()
      else {
        const channel = [...b.broker.core.connections].find((c) => c.state === 'connected' && !seen.includes(c.client!.clientId) && c.client!.clientId.startsWith('cr-'))
        const will = channel?.session?.will?.message
        view += ` ${channel?.client?.clientId} v${channel?.protocolVersion} user=${channel?.client?.username} keepalive=${channel?.keepalive} clean=${channel?.cleanStart}`
        if (will) view += ` will=${will.topic}:${will.qos}:${will.retain}:${Buffer.from(will.payload).toString('hex')}`
        seen.push(channel?.client?.clientId ?? '')
        raw.socket.destroy()
        await raw.closed
        if (will) {
          const got = await wills.waitFor(1)
          view += ` published=${got[0]!.topic}:${got[0]!.payload.toString('hex')}`
          wills.messages.length = 0
        }
        // Let the session go before the same client id connects again.
        await delay(20)
        seen.length = 0
      }
      views.push(view)
    }
    t.equal(views[0], views[1], `${name}: the same whole as in pieces (${views[0]})`)
    t.equal(views[0]!.startsWith('CONNACK 0 '), accepted, `${name}: ${accepted ? 'accepted' : 'refused or closed'}`)
  }
})
