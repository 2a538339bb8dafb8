// src/mqtt/socket-writes.ts: writes of an accepted plain socket go to its handle (through Node's WriteWrap,
// found by a probe that fails first if a Node release changes it), in order with the stream's own
// writes, counted as unsent while the kernel has not taken them, and failing as socket.write() fails.
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect, createServer, type TLSSocket } from 'node:tls'
import t from 'tap'
import { onReads } from '../../src/mqtt/socket-reads.js'
import { directWrites, unsentBytes, writeDirect } from '../../src/mqtt/socket-writes.js'
import { basePki, pkiDir } from '../listeners/tls-helpers.js'
import { plainPair } from './socket-pair.js'

const pki = await basePki(await pkiDir(t))

async function until (what: () => boolean): Promise<boolean> {
  for (let i = 0; i < 1000 && !what(); i++) await sleep(5)
  return what()
}

/** Bytes 0..n-1 of a pattern that shows reordering: byte i is (i * 7 + seed) & 0xff. */
const pattern = (n: number, seed: number): Buffer => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7 + seed) & 0xff))

/** A pair whose client does not read, and `bytes` of a pattern written directly to the accepted socket: more than the kernel takes. */
async function queuedWrite (t: { teardown: (fn: () => unknown) => void }, bytes: number, seed: number): Promise<{ server: Socket, client: Socket, direct: Socket, data: Buffer }> {
  const { server, client } = await plainPair(t)
  const direct = directWrites(server)!
  client.pause()
  const data = pattern(bytes, seed)
  writeDirect(direct, data)
  return { server, client, direct, data }
}

t.test('an accepted plain socket is written through its handle; a TLS socket is not', async (t) => {
  const { server, client } = await plainPair(t)
  const direct = directWrites(server)
  t.equal(direct, server, 'the plain socket qualifies')
  const got: Buffer[] = []
  client.on('data', (chunk: Buffer) => got.push(chunk))
  writeDirect(direct!, Buffer.from('one '))
  writeDirect(direct!, Buffer.from('two'))
  t.ok(await until(() => Buffer.concat(got).length === 7), 'both writes arrive')
  t.equal(Buffer.concat(got).toString(), 'one two', 'in order')
  t.equal(server.writableLength, 0, 'the stream was not used')
  t.equal(server.bytesWritten, 7, 'bytesWritten counts them (net.Socket asks the handle)')

  const tlsServer = createServer({ cert: pki.server.certPem, key: pki.server.keyPem })
  const accepted: TLSSocket[] = []
  tlsServer.on('secureConnection', (socket: TLSSocket) => accepted.push(socket))
  tlsServer.listen(0, '127.0.0.1')
  await once(tlsServer, 'listening')
  t.teardown(() => tlsServer.close())
  const tlsClient = connect({ host: '127.0.0.1', port: (tlsServer.address() as { port: number }).port, rejectUnauthorized: false })
  t.teardown(() => tlsClient.destroy())
  await once(tlsClient, 'secureConnect')
  await until(() => accepted.length > 0)
  t.equal(directWrites(accepted[0]!), null, 'a TLS socket is written through its stream')
  accepted[0]!.destroy()
})

t.test('what the kernel does not take is unsent until it does; later writes queue behind it, in order', async (t) => {
  const { server, client, direct, data: first } = await queuedWrite(t, 8 * 1024 * 1024, 1)
  const queued = unsentBytes(server)
  t.ok(queued > 0, `more than the socket buffers: ${queued} bytes unsent`)
  t.equal(server.writableLength, 0, 'held by libuv, not by the stream')
  const second = pattern(100_000, 2)
  const third = pattern(10, 3)
  writeDirect(direct, second)
  t.equal(server.writableLength, second.length, 'a write behind a queued one goes through the stream')
  server.write(third)
  const got: Buffer[] = []
  let bytes = 0
  client.on('data', (chunk: Buffer) => { got.push(chunk); bytes += chunk.length })
  client.resume()
  const total = first.length + second.length + third.length
  t.ok(await until(() => bytes === total), 'everything arrives once the peer reads')
  t.ok(Buffer.concat(got).equals(Buffer.concat([first, second, third])), 'in the order written')
  t.ok(await until(() => unsentBytes(server) === 0), 'nothing unsent once the peer has read it')
})

t.test('end() after a queued write: the peer gets every byte, then the end', async (t) => {
  const { server, client, data } = await queuedWrite(t, 4 * 1024 * 1024, 4)
  t.ok(unsentBytes(server) > 0, 'queued')
  server.end()
  const got: Buffer[] = []
  client.on('data', (chunk: Buffer) => got.push(chunk))
  const ended = once(client, 'end')
  client.resume()
  await ended
  t.ok(Buffer.concat(got).equals(data), 'all bytes before the end')
})

t.test('a write to a peer that is gone destroys the socket with the error socket.write() gives', async (t) => {
  const { server, client } = await plainPair(t)
  const direct = directWrites(server)!
  const errors: NodeJS.ErrnoException[] = []
  server.on('error', (err) => errors.push(err))
  // Not reading (a socket reading through onReads stops its reads when paused): the reset shows only to a write.
  onReads(server, { chunkRead: () => {} })
  server.pause()
  client.resetAndDestroy()
  await sleep(50)
  // The first write after the reset may still be taken by the kernel; the ones after it fail.
  for (let i = 0; i < 10 && !server.destroyed; i++) {
    writeDirect(direct, Buffer.from('anyone there?'))
    await sleep(10)
  }
  t.ok(server.destroyed, 'the socket is destroyed')
  t.ok(await until(() => errors.length > 0), 'with an error event')
  t.match(errors[0]!, { syscall: 'write', code: /^(EPIPE|ECONNRESET)$/ }, 'a write error with its code')
  t.match(errors[0]!.message, /^write (EPIPE|ECONNRESET)$/, 'worded as Node words it')
})

t.test('a queued write whose peer resets fails: the socket is destroyed with the write\'s error, its count cleared', async (t) => {
  const { server, client } = await queuedWrite(t, 8 * 1024 * 1024, 5)
  const closed = new Promise((resolve) => server.on('close', resolve))
  const errors: NodeJS.ErrnoException[] = []
  server.on('error', (err) => errors.push(err))
  // Not reading (see above): the reset shows to the queued write.
  onReads(server, { chunkRead: () => {} })
  server.pause()
  t.ok(unsentBytes(server) > 0, 'queued')
  client.resetAndDestroy()
  await closed
  t.ok(server.destroyed, 'the socket is destroyed')
  t.match(errors, [{ syscall: 'write', code: /^(EPIPE|ECONNRESET)$/ }], 'by the failed write')
  t.equal(unsentBytes(server), 0, 'nothing counted as unsent any more')
})
