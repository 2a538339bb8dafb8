// One encoding of a QoS 0 PUBLISH serves every subscriber of the same protocol family and RETAIN flag.
// Routing is synchronous, so the cache only needs to remember the message being routed right now.
import type { Message } from './message.js'

let current: Message | null = null
const slots: (Buffer | undefined)[] = [undefined, undefined, undefined, undefined]

export function cachedEncoding (message: Message, v5: boolean, retain: boolean, encode: () => Buffer): Buffer {
  if (current !== message) {
    current = message
    slots[0] = slots[1] = slots[2] = slots[3] = undefined
  }
  const slot = (v5 ? 2 : 0) + (retain ? 1 : 0)
  return (slots[slot] ??= encode())
}
