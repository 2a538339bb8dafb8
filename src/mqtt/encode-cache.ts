// One encoding of a QoS 0 PUBLISH serves every subscriber of the same protocol family and RETAIN flag.
// Routing is synchronous, so the cache only needs to remember the message being routed right now.
import mqtt, { type IPublishPacket } from 'mqtt-packet'
import type { Message } from './message.js'

let current: Message | null = null
const slots: (Buffer | undefined)[] = [undefined, undefined, undefined, undefined]

/** The encoding another subscriber of `message` was sent, if any. */
export function cachedEncoding (message: Message, v5: boolean, retain: boolean): Buffer | undefined {
  return current === message ? slots[(v5 ? 2 : 0) + (retain ? 1 : 0)] : undefined
}

/** Keeps `buf` as the encoding of `message` for the next subscribers (it forgets the message routed before). */
export function rememberEncoding (message: Message, v5: boolean, retain: boolean, buf: Buffer): void {
  if (current !== message) {
    current = message
    slots[0] = slots[1] = slots[2] = slots[3] = undefined
  }
  slots[(v5 ? 2 : 0) + (retain ? 1 : 0)] = buf
}

// mqtt-packet keeps the encoding of every remaining length below 16384 it writes, for good, as a 1-4
// byte slice of Node's shared Buffer pool. Cached one at a time between other allocations, each slice
// pins a whole pool block (8 KiB on Node 20, 64 KiB on Node 24): clients choosing their packet sizes
// could make it hold 128 MiB (1 GiB) (mqttjs/mqtt-packet#163). Written in runs of 1,024, they share a few blocks.
const CACHED_LENGTHS = 16384
let warmed = false

/**
 * Fills mqtt-packet's remaining-length cache: 16 steps of 1,024 lengths, one per turn of the event loop
 * (about 60 ms in all, once per process), so that start-up and early clients do not wait for it.
 */
export function warmLengthCache (): void {
  if (warmed) return
  warmed = true
  const sink = { write: () => true, destroy: (err: Error) => { throw err } } as unknown as NodeJS.WritableStream
  const payload = Buffer.alloc(CACHED_LENGTHS)
  mqtt.writeToStream({ cmd: 'pingresp' }, sink)
  mqtt.writeToStream({ cmd: 'puback', messageId: 1 }, sink)
  // A PUBLISH to topic "a": 3 bytes of topic, then the payload.
  const packet: IPublishPacket = { cmd: 'publish', topic: 'a', payload, qos: 0, retain: false, dup: false }
  const step = (from: number): void => {
    const to = Math.min(from + 1024, CACHED_LENGTHS)
    for (let length = Math.max(from, 3); length < to; length++) {
      packet.payload = payload.subarray(0, length - 3)
      mqtt.writeToStream(packet, sink)
    }
    if (to < CACHED_LENGTHS) setImmediate(step, to)
  }
  step(0)
}
