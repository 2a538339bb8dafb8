// The one place Culex reads mqtt-packet's internals. test/mqtt/mqtt-packet-internals.test.ts fails if an
// mqtt-packet release changes it.
import type mqtt from 'mqtt-packet'

/**
 * The bytes mqtt-packet's parser holds and has not read into a packet yet (its BufferList, `_list`).
 * `parser.parse()` returns this count, but only once it has read all it can: the memory budget
 * (force_shutdown.max_heap_size) is also checked while a packet's handler runs, inside parse(), where
 * only the list knows how many bytes are still held.
 */
export function parserHeldBytes (parser: mqtt.Parser): number {
  return (parser as mqtt.Parser & { _list?: { length: number } })._list?.length ?? 0
}
