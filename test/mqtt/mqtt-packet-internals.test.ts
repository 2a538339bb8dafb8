// The mqtt-packet internal src/mqtt/mqtt-packet-internals.ts relies on (no public API tells the bytes held
// while parse() runs): this fails first if an mqtt-packet release renames or drops it.
import mqtt from 'mqtt-packet'
import t from 'tap'
import { parserHeldBytes } from '../../src/mqtt/mqtt-packet-internals.js'

const publish = (topic: string, size: number) => mqtt.generate({ cmd: 'publish', topic, payload: Buffer.alloc(size, 0x61), qos: 0, retain: false, dup: false, properties: { userProperties: { k: 'v' } } }, { protocolVersion: 5 })

t.test('the parser keeps the bytes it has not read as _list, also while a packet is emitted', async (t) => {
  const first = publish('a', 10)
  const second = publish('b', 20)
  const partial = publish('c', 30).subarray(0, 7)
  const parser = mqtt.parser({ protocolVersion: 5 })
  t.ok('_list' in parser, 'the parser has _list')
  const during: number[] = []
  parser.on('packet', () => during.push(parserHeldBytes(parser)))
  const left = parser.parse(Buffer.concat([first, second, partial]))
  t.same(during, [second.length + partial.length, partial.length], 'inside parse(): the bytes after the packet just read')
  t.equal(left, partial.length - 2, 'parse() returns the partial packet past its fixed header (read already)')
  t.equal(parserHeldBytes(parser), left, 'and so does the helper')
  t.equal(parserHeldBytes(mqtt.parser({ protocolVersion: 5 })), 0, 'a new parser holds nothing')
})
