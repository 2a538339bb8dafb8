// Frames on a direct connection between two workers (src/cluster/host/direct.ts): a bus payload as the
// peer bus encoded it, behind a header naming its channel, so that nothing is encoded again on the way:
//   u32 BE: length of what follows | u16 BE: channel length | channel (UTF-8) | payload
import { CulexError } from '../../errors.js'

const HEADER = 6
/** A frame claiming more than this is a broken stream, not a batch of messages. */
export const MAX_FRAME = 1024 * 1024 * 1024

/** The header of a frame carrying `payloadLength` bytes on `channel` (the payload is written after it, unchanged). */
export function frameHeader (channel: Buffer, payloadLength: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER + channel.length)
  header.writeUInt32BE(2 + channel.length + payloadLength, 0)
  header.writeUInt16BE(channel.length, 4)
  channel.copy(header, HEADER)
  return header
}

/** Cuts a stream of chunks into frames; a payload is a view of the chunk it arrived in whenever it fits in one. */
export class FrameReader {
  #chunks: Buffer[] = []
  #buffered = 0
  /** The whole length of the frame being gathered (header included), once its length is known. */
  #need = 0

  push (chunk: Buffer): void {
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
  }

  /** The next whole frame, or null until more arrives; throws CULEX_ERR_CLUSTER_DECODE on a broken stream. */
  next (): { channel: string, payload: Buffer } | null {
    if (this.#need === 0) {
      if (this.#buffered < 4) return null
      const head = this.#chunks[0]!.length >= 4 ? this.#chunks[0]! : this.#gather(4)
      const length = head.readUInt32BE(0)
      if (length < 2 || length > MAX_FRAME) throw new CulexError('CULEX_ERR_CLUSTER_DECODE', `a frame of ${length} bytes`)
      this.#need = 4 + length
    }
    if (this.#buffered < this.#need) return null
    const frame = this.#chunks[0]!.length >= this.#need ? this.#chunks[0]! : this.#gather(this.#need)
    const size = this.#need
    this.#need = 0
    // What follows the frame in its chunk stays for the next call.
    if (frame.length === size) this.#chunks.shift()
    else this.#chunks[0] = frame.subarray(size)
    this.#buffered -= size
    const channelLength = frame.readUInt16BE(4)
    if (HEADER + channelLength > size) throw new CulexError('CULEX_ERR_CLUSTER_DECODE', 'a frame shorter than its channel name')
    return { channel: frame.toString('utf8', HEADER, HEADER + channelLength), payload: frame.subarray(HEADER + channelLength, size) }
  }

  /** Joins the first chunks into one of at least `bytes` bytes (a frame that arrived in pieces). */
  #gather (bytes: number): Buffer {
    let n = 0
    let i = 0
    while (n < bytes) n += this.#chunks[i++]!.length
    const joined = Buffer.concat(this.#chunks.slice(0, i), n)
    this.#chunks.splice(0, i, joined)
    return joined
  }
}
