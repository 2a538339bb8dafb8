// src/mqtt/socket-reads.ts: an accepted plain socket read through net.Socket's onread internals (these fail
// first if a Node release renames or drops them), anything else through 'data'.
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect, createServer, type TLSSocket } from 'node:tls'
import t from 'tap'
import { onReads } from '../../src/mqtt/socket-reads.js'
import { basePki, pkiDir } from '../listeners/tls-helpers.js'
import { plainPair } from './socket-pair.js'

const pki = await basePki(await pkiDir(t))

/** A connected pair whose accepted socket goes to `before` (default: nothing) and then reads through onReads into `chunks`. */
async function readingPair (t: { teardown: (fn: () => unknown) => void }, before = (_socket: Socket): void => {}): Promise<{ server: Socket, client: Socket, chunks: Buffer[] }> {
  const chunks: Buffer[] = []
  const pair = await plainPair(t, (socket) => {
    before(socket)
    onReads(socket, { chunkRead: (chunk) => chunks.push(chunk) })
  })
  return { ...pair, chunks }
}

async function received (chunks: Buffer[], bytes: number): Promise<Buffer> {
  for (let i = 0; i < 400 && chunks.reduce((n, c) => n + c.length, 0) < bytes; i++) await sleep(5)
  return Buffer.concat(chunks)
}

t.test('an accepted plain socket reads through one shared buffer, each read handed over as a copy', async (t) => {
  const { server, client, chunks } = await readingPair(t)
  const kBuffer = Object.getOwnPropertySymbols(server).find((s) => s.description === 'kBuffer')
  t.ok(kBuffer, 'net.Socket has a kBuffer field')
  t.ok(Buffer.isBuffer((server as unknown as Record<symbol, unknown>)[kBuffer!]), 'set to the buffer libuv reads into')
  t.equal(server.listenerCount('data'), 0, 'no data listener: the stream is not used for reads')

  client.write('first')
  t.equal((await received(chunks, 5)).toString(), 'first')
  const big = Buffer.alloc(200_000, 'x')
  client.write(big)
  const all = await received(chunks, 5 + big.length)
  t.equal(all.length, 5 + big.length, 'more than the shared buffer holds arrives whole, over several reads')
  t.ok(chunks.length > 2, 'in several reads')
  t.equal(chunks[0]!.toString(), 'first', 'an earlier chunk is not overwritten by later reads')
  const shared = (server as unknown as Record<symbol, Buffer>)[kBuffer!]!
  t.ok(chunks.every((c) => c.buffer !== shared.buffer), 'no chunk is a view of the buffer libuv reads into')
  t.equal(server.bytesRead, 5 + big.length, 'bytesRead counts the reads')
})

t.test('pause() stops the reads, resume() starts them again; the peer\'s end still ends the socket', async (t) => {
  const { server, client, chunks } = await readingPair(t)
  server.pause()
  client.write('held')
  await sleep(100)
  t.equal(chunks.length, 0, 'nothing read while paused')
  server.resume()
  t.equal((await received(chunks, 4)).toString(), 'held', 'read once resumed')
  const ended = once(server, 'end')
  const closed = once(server, 'close')
  client.end()
  await ended
  await closed
  t.pass('end and close on the peer\'s FIN')
})

t.test('a TLS socket, or one with bytes already in its stream, is read through data events', async (t) => {
  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem })
  const chunks: Buffer[] = []
  server.on('secureConnection', (socket: TLSSocket) => onReads(socket, { chunkRead: (chunk) => chunks.push(chunk) }))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const client = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, rejectUnauthorized: false })
  t.teardown(() => client.destroy())
  await once(client, 'secureConnect')
  client.write('over tls')
  t.equal((await received(chunks, 8)).toString(), 'over tls')

  const unshifted = await readingPair(t, (socket) => {
    socket.pause()
    socket.unshift(Buffer.from('left '))
  })
  unshifted.server.resume()
  unshifted.client.write('over')
  t.equal((await received(unshifted.chunks, 9)).toString(), 'left over', 'what was unshifted comes first')
  t.equal(unshifted.server.listenerCount('data'), 1, 'read through a data listener')
})
