// The hand-written encoders give the bytes mqtt-packet gives: PUBLISH for every protocol level, QoS,
// flag and Remaining Length size, and its packets parse back to what went in.
import t from 'tap'
import mqtt from 'mqtt-packet'
import { encodePlainAck, encodePlainPublish, encodeV3Connack, PINGRESP } from '../../src/mqtt/packet-encoder.js'

const topics = ['a', 'sensors/+level/temp', 'ünïcødé/トピック/😀', 'x'.repeat(300)]
// Remaining Length on both sides of each Variable Byte Integer boundary.
const payloadSizes = [0, 1, 16, 120, 121, 122, 127, 128, 16370, 16384, 2097140, 2097152]

for (const version of [3, 4, 5] as const) {
  t.test(`protocol level ${version}`, async (t) => {
    let cases = 0
    for (const topic of topics) {
      for (const size of payloadSizes) {
        for (const qos of [0, 1, 2] as const) {
          for (const [retain, dup] of [[false, false], [true, false], [false, true], [true, true]] as const) {
            const payload = Buffer.alloc(size, 0x5a)
            const packetId = qos > 0 ? 1 + ((size * 7 + cases) % 65535) : 0
            const ours = encodePlainPublish(topic, payload, qos, retain, dup, packetId, version === 5)
            const theirs = mqtt.generate({ cmd: 'publish', topic, payload, qos, retain, dup, ...(qos > 0 ? { messageId: packetId } : {}) }, { protocolVersion: version })
            if (!ours.equals(theirs)) {
              t.fail(`differs: topic ${JSON.stringify(topic.slice(0, 20))}, ${size} bytes, qos ${qos}, retain ${retain}, dup ${dup}`)
              return
            }
            cases++
          }
        }
      }
    }
    t.equal(cases, topics.length * payloadSizes.length * 3 * 4, `${cases} encodings byte for byte equal to mqtt-packet's`)

    const parser = mqtt.parser({ protocolVersion: version })
    const parsed: mqtt.IPublishPacket[] = []
    parser.on('packet', (p) => parsed.push(p as mqtt.IPublishPacket))
    parser.parse(encodePlainPublish('ünïcødé/x', Buffer.from('hello'), 1, true, false, 513, version === 5))
    t.equal(parsed.length, 1, 'parses as one packet')
    t.match(parsed[0], { cmd: 'publish', topic: 'ünïcødé/x', qos: 1, retain: true, dup: false, messageId: 513 })
    t.equal(parsed[0]!.payload.toString(), 'hello')
  })
}

t.test('acknowledgements', async (t) => {
  for (const version of [3, 4, 5] as const) {
    for (const cmd of ['puback', 'pubrec', 'pubrel', 'pubcomp'] as const) {
      for (const id of [1, 255, 256, 65535]) {
        const theirs = mqtt.generate({ cmd, messageId: id, ...(version === 5 ? { reasonCode: 0 } : {}) } as mqtt.Packet, { protocolVersion: version })
        t.same([...encodePlainAck(cmd, id)], [...theirs], `${cmd} ${id}, level ${version}`)
      }
    }
  }
})

t.test('PINGRESP and MQTT 3 CONNACK are the bytes mqtt-packet generates', async (t) => {
  t.same(PINGRESP, mqtt.generate({ cmd: 'pingresp' }), 'PINGRESP')
  for (const version of [3, 4] as const) {
    for (const sessionPresent of [false, true]) {
      for (const returnCode of [0, 1, 2, 3, 4, 5]) {
        t.same(encodeV3Connack(sessionPresent, returnCode), mqtt.generate({ cmd: 'connack', sessionPresent, returnCode }, { protocolVersion: version }),
          `level ${version}, session present ${sessionPresent}, return code ${returnCode}`)
      }
    }
  }
})
