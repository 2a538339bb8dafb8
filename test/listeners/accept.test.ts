// src/listeners/accept.ts: a listening server's connections accepted by Culex's callback instead of
// net.Server's, with what net.Server does for each: the socket's options, noDelay and keep-alive, the
// connection count server.close() waits on, maxConnections, the diagnostics channel; over TCP, TLS and HTTP.
import { subscribe, unsubscribe } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { request } from 'node:http'
import { createServer as createHttpServer } from 'node:http'
import net, { type Server, type Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { connect as tlsConnect, createServer as createTlsServer } from 'node:tls'
import t from 'tap'
import { acceptQuickly } from '../../src/listeners/accept.js'
import { basePki, pkiDir } from './tls-helpers.js'

const pki = await basePki(await pkiDir(t))

async function listening (server: Server): Promise<number> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return (server.address() as { port: number }).port
}

const symbolOf = (socket: Socket, name: string): unknown => {
  const symbol = Object.getOwnPropertySymbols(socket).find((s) => s.description === name)
  return symbol === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[symbol]
}

t.test('a TCP server: sockets as net.Server makes them, counted for close()', async (t) => {
  const accepted: Socket[] = []
  const server = net.createServer({ noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 }, (socket) => {
    accepted.push(socket)
    socket.on('data', (chunk) => socket.write(chunk))
  })
  const port = await listening(server)
  const failures: Error[] = []
  t.equal(acceptQuickly(server, (err) => failures.push(err)), true, 'installed on a listening net.Server')
  const published: unknown[] = []
  const onPublish = (message: unknown): void => { published.push(message) }
  subscribe('net.server.socket', onPublish)
  t.teardown(() => unsubscribe('net.server.socket', onPublish))

  const client = net.connect(port, '127.0.0.1')
  await once(client, 'connect')
  client.write('echo')
  const [echoed] = await once(client, 'data') as [Buffer]
  t.equal(echoed.toString(), 'echo', 'the socket reads and writes')
  const socket = accepted[0]!
  t.ok(socket instanceof net.Socket, 'a net.Socket')
  t.equal(socket.remotePort, client.localPort, 'of the client that connected')
  t.equal(symbolOf(socket, 'kSetNoDelay'), true, 'noDelay as the server asked')
  t.equal(symbolOf(socket, 'kSetKeepAlive'), true, 'keep-alive as the server asked')
  t.equal(symbolOf(socket, 'kSetKeepAliveInitialDelay'), 30, 'with its initial delay (in seconds, as Node keeps it)')
  t.equal(socket.allowHalfOpen, false, 'not half-open: the server did not allow it')
  t.same(published, [{ socket }], 'published on the net.server.socket diagnostics channel')

  let closed = false
  const serverClosed = new Promise<void>((resolve) => server.close(() => { closed = true; resolve() }))
  await sleep(50)
  t.equal(closed, false, 'close() waits for the accepted connection')
  client.end()
  await serverClosed
  t.pass('and completes once it has closed')
  t.same(failures, [], 'no accept failed')
})

t.test('allowHalfOpen, pauseOnConnect and maxConnections as net.Server applies them', async (t) => {
  const accepted: Socket[] = []
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (socket) => accepted.push(socket))
  server.maxConnections = 1
  const port = await listening(server)
  t.teardown(() => { for (const s of accepted) s.destroy(); server.close() })
  acceptQuickly(server, () => {})
  let drops = 0
  server.on('drop', () => drops++)

  const first = net.connect(port, '127.0.0.1')
  t.teardown(() => first.destroy())
  await once(first, 'connect')
  while (accepted.length === 0) await sleep(5)
  const socket = accepted[0]!
  t.equal(socket.allowHalfOpen, true, 'half-open allowed')
  const data: Buffer[] = []
  socket.on('data', (chunk: Buffer) => data.push(chunk))
  first.write('held')
  await sleep(50)
  t.equal(data.length, 0, 'paused on connect: nothing read until resumed')
  socket.resume()
  while (data.length === 0) await sleep(5)
  t.equal(Buffer.concat(data).toString(), 'held', 'read once resumed')

  const second = net.connect(port, '127.0.0.1')
  t.teardown(() => second.destroy())
  const ended = await Promise.race([once(second, 'close').then(() => 'closed'), sleep(2000).then(() => 'open')])
  t.equal(ended, 'closed', 'a connection over maxConnections is closed')
  t.equal(drops, 1, 'and counted as a drop')
  t.equal(accepted.length, 1, 'never handed to the server')
})

t.test('a TLS server and an HTTP server accept through it too', async (t) => {
  const tlsServer = createTlsServer({ cert: pki.server.certPem, key: pki.server.keyPem }, (socket) => socket.end('over tls'))
  const tlsPort = await listening(tlsServer)
  t.teardown(() => tlsServer.close())
  t.equal(acceptQuickly(tlsServer, () => {}), true, 'installed on a tls.Server')
  const tlsClient = tlsConnect({ host: '127.0.0.1', port: tlsPort, ca: pki.ca.certPem, servername: 'localhost' })
  t.teardown(() => tlsClient.destroy())
  const [greeting] = await once(tlsClient, 'data') as [Buffer]
  t.equal(greeting.toString(), 'over tls', 'a TLS handshake and its data')

  const httpServer = createHttpServer((_req, res) => res.end('over http'))
  const httpPort = await listening(httpServer)
  t.teardown(() => httpServer.close())
  t.equal(acceptQuickly(httpServer, () => {}), true, 'installed on an http.Server')
  const body = await new Promise<string>((resolve, reject) => {
    request({ host: '127.0.0.1', port: httpPort, path: '/', agent: false }, (res) => {
      const parts: Buffer[] = []
      res.on('data', (chunk: Buffer) => parts.push(chunk))
      res.on('end', () => resolve(Buffer.concat(parts).toString()))
    }).on('error', reject).end()
  })
  t.equal(body, 'over http', 'an HTTP request and its answer')
})

t.test('a server that does not listen keeps Node\'s own callback', async (t) => {
  t.equal(acceptQuickly(net.createServer(), () => {}), false, 'nothing to install on')
})
