import t from 'tap'
import { FrameGuard } from '../../src/mqtt/frame-guard.js'

/** A packet with a body of `length` bytes of 0xFF (bytes that would read as continuation bits if taken for a header). */
function packet (first: number, length: number): Buffer {
  const header = [first]
  let n = length
  do {
    let byte = n % 128
    n = Math.floor(n / 128)
    if (n > 0) byte |= 0x80
    header.push(byte)
  } while (n > 0)
  return Buffer.concat([Buffer.from(header), Buffer.alloc(length, 0xff)])
}

/** Feeds the chunks in order; returns the first error and the index of the chunk that raised it. */
function feed (guard: FrameGuard, chunks: Buffer[]): { error: string | null, at: number } {
  for (let i = 0; i < chunks.length; i++) {
    const error = guard.check(chunks[i]!)
    if (error) return { error, at: i }
  }
  return { error: null, at: -1 }
}

// Remaining lengths with 1, 2, 3 and 2 length bytes, and empty bodies in between.
const STREAM = Buffer.concat([packet(0xc0, 0), packet(0x30, 127), packet(0x30, 128), packet(0xc0, 0), packet(0x32, 16_384), packet(0x30, 16_383)])

t.test('a stream of valid packets passes however it is split', async (t) => {
  t.same(feed(new FrameGuard(1024 * 1024), [STREAM]), { error: null, at: -1 }, 'in one chunk')
  let failures = 0
  for (let i = 0; i <= STREAM.length; i++) {
    if (feed(new FrameGuard(1024 * 1024), [STREAM.subarray(0, i), STREAM.subarray(i)]).error) failures++
  }
  t.equal(failures, 0, `split in two at each of the ${STREAM.length + 1} boundaries`)
  const bytes = [...STREAM].map((b) => Buffer.from([b]))
  t.same(feed(new FrameGuard(1024 * 1024), bytes), { error: null, at: -1 }, 'one byte at a time')
})

t.test('a header split at every boundary is read whole', async (t) => {
  // 2_097_152 needs the 4-byte form: 80 80 80 01
  const header = Buffer.from([0x30, 0x80, 0x80, 0x80, 0x01])
  for (let i = 0; i <= header.length; i++) {
    const guard = new FrameGuard(2_097_152 + 5)
    t.same(feed(guard, [header.subarray(0, i), header.subarray(i)]), { error: null, at: -1 }, `split at ${i}: exactly the maximum`)
    const tooLarge = new FrameGuard(2_097_152 + 4)
    t.same(feed(tooLarge, [header.subarray(0, i), header.subarray(i)]), { error: 'packet_too_large', at: i === header.length ? 0 : 1 },
      `split at ${i}: one byte over, refused when the header completes`)
  }
})

t.test('the 4-byte maximum remaining length is accepted; a fifth length byte is malformed', async (t) => {
  const max = Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f])
  const guard = new FrameGuard(Number.POSITIVE_INFINITY)
  t.equal(guard.check(max), null, '268 435 455 is the largest remaining length')
  t.equal(guard.check(Buffer.alloc(4096, 0xff)), null, 'and its body is skipped')

  const five = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])
  for (let i = 0; i <= five.length; i++) {
    t.equal(feed(new FrameGuard(Number.POSITIVE_INFINITY), [five.subarray(0, i), five.subarray(i)]).error, 'malformed_remaining_length', `split at ${i}`)
  }
  t.equal(feed(new FrameGuard(1024), [Buffer.from([0x30, 0x80, 0x80, 0x80, 0x80])]).error, 'malformed_remaining_length',
    'known malformed at the fourth continuation bit, before the fifth byte arrives')
})

t.test('too large is known from the header, before any of the body arrives', async (t) => {
  const guard = new FrameGuard(256)
  t.equal(guard.check(Buffer.from([0x30, 0x80, 0x80, 0x40])), 'packet_too_large', '1 MB declared, no body sent')
  t.equal(new FrameGuard(256).check(Buffer.from([0x30, 0x80])), null, 'an incomplete header is not judged yet')
})

t.test('the limit counts the whole packet: fixed header included', async (t) => {
  // 1 + 2 length bytes + 253 = 256
  t.equal(new FrameGuard(256).check(packet(0x30, 253)), null, 'exactly mqtt.max_packet_size')
  t.equal(new FrameGuard(256).check(packet(0x30, 254)), 'packet_too_large', 'one byte more')
  t.equal(new FrameGuard(2).check(packet(0xc0, 0)), null, 'PINGREQ is 2 bytes')
  t.equal(new FrameGuard(1).check(packet(0xc0, 0)), 'packet_too_large')
})

t.test('an oversize packet after valid ones in the same chunk is caught', async (t) => {
  const chunk = Buffer.concat([packet(0x30, 10), packet(0xc0, 0), Buffer.from([0x30, 0x81, 0x02])])
  t.equal(new FrameGuard(200).check(chunk), 'packet_too_large', 'the third header declares 257 bytes')
  t.equal(new FrameGuard(300).check(chunk), null, 'under a larger limit it is waiting for the body')
})

t.test('maxPacketSize can be changed on a running guard', async (t) => {
  const guard = new FrameGuard(1024)
  t.equal(guard.check(packet(0x30, 300)), null)
  guard.maxPacketSize = 100
  t.equal(guard.check(packet(0x30, 300)), 'packet_too_large')
})
