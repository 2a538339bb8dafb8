// Reads only the fixed headers of the incoming byte stream, so an oversize packet is refused
// from its first bytes instead of after mqtt-packet has buffered a body of any length.

export type FrameError = 'malformed_remaining_length' | 'packet_too_large'

export class FrameGuard {
  maxPacketSize: number
  /** Bytes of the current packet's body still to skip. */
  #body = 0
  /** 0 = expecting a first byte, 1..4 = reading the remaining length's nth byte. */
  #lengthByte = 0
  #length = 0
  #multiplier = 1

  constructor (maxPacketSize: number) {
    this.maxPacketSize = maxPacketSize
  }

  /** Returns null when every header in the chunk is acceptable. */
  check (chunk: Buffer): FrameError | null {
    let i = 0
    const end = chunk.length
    while (i < end) {
      if (this.#body > 0) {
        const skip = Math.min(this.#body, end - i)
        this.#body -= skip
        i += skip
        continue
      }
      const byte = chunk[i++]!
      if (this.#lengthByte === 0) {
        this.#lengthByte = 1
        this.#length = 0
        this.#multiplier = 1
        continue
      }
      this.#length += (byte & 0x7f) * this.#multiplier
      if (byte & 0x80) {
        if (this.#lengthByte === 4) return 'malformed_remaining_length'
        this.#lengthByte++
        this.#multiplier *= 128
        continue
      }
      const total = 1 + this.#lengthByte + this.#length
      if (total > this.maxPacketSize) return 'packet_too_large'
      this.#body = this.#length
      this.#lengthByte = 0
    }
    return null
  }
}
