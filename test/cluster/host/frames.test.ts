// The frames of a direct connection between workers: whatever way the stream is cut into chunks, the
// reader gives back each channel and payload as written; a length no frame can have closes the stream.
import t from 'tap'
import { FrameReader, MAX_FRAME, frameHeader } from '../../../src/cluster/host/frames.js'

const frames = [
  { channel: 'culex:msg:culex-w2@127.0.0.1', payload: Buffer.from('first') },
  { channel: 'culex:ctl', payload: Buffer.alloc(0) },
  { channel: 'ünïcode', payload: Buffer.alloc(70_000, 7) },
  { channel: 'culex:msg', payload: Buffer.from([0, 1, 2, 3]) },
]
const stream = Buffer.concat(frames.flatMap(({ channel, payload }) => [frameHeader(Buffer.from(channel), payload.length), payload]))

function readAll (reader: FrameReader): { channel: string, payload: Buffer }[] {
  const out = []
  for (let f = reader.next(); f !== null; f = reader.next()) out.push(f)
  return out
}

t.test('one chunk, chunks of every size, and one byte at a time give the same frames', async (t) => {
  for (const size of [stream.length, 1, 2, 3, 5, 6, 7, 4096, 65_536]) {
    const reader = new FrameReader()
    const got = []
    for (let at = 0; at < stream.length; at += size) {
      reader.push(stream.subarray(at, at + size))
      got.push(...readAll(reader))
    }
    t.same(got.map((f) => [f.channel, f.payload.toString('hex')]), frames.map((f) => [f.channel, f.payload.toString('hex')]), `chunks of ${size} bytes`)
  }
})

t.test('a payload within one chunk is a view of it, not a copy', async (t) => {
  const reader = new FrameReader()
  reader.push(stream)
  const [first] = readAll(reader)
  t.equal(first!.payload.buffer, stream.buffer)
})

t.test('a length no frame can have is a broken stream', async (t) => {
  for (const length of [0, 1, MAX_FRAME + 1]) {
    const reader = new FrameReader()
    const head = Buffer.alloc(6)
    head.writeUInt32BE(length, 0)
    reader.push(head)
    t.throws(() => reader.next(), { code: 'CULEX_ERR_CLUSTER_DECODE' }, `length ${length}`)
  }
  const reader = new FrameReader()
  const head = Buffer.alloc(8)
  head.writeUInt32BE(4, 0)
  head.writeUInt16BE(50, 4)
  reader.push(head)
  t.throws(() => reader.next(), { code: 'CULEX_ERR_CLUSTER_DECODE', message: /channel/ }, 'a channel longer than its frame')
})
