// The packet reader (src/mqtt/packet-reader.ts) decodes whole PUBLISH packets itself and hands the rest
// to mqtt-packet: the same byte stream, cut at every size from 1 byte to all at once, gives the same
// messages in the same order, for MQTT 3.1.1 and 5 (with and without properties), with PUBACKs for QoS 1.
import t from 'tap'
import mqtt from 'mqtt-packet'
import { collect, connectClient, delay, end, rawSocket, startBroker } from '../helpers.js'

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
