// The Node TLS internals src/listeners/node-internals.ts relies on (Node 20 has no public API for them):
// these fail first if a Node release renames or drops them.
import { once } from 'node:events'
import type { Socket } from 'node:net'
import { connect, createServer, type TLSSocket } from 'node:tls'
import t from 'tap'
import { acceptedSocket, setSecureContextWithPartialChain } from '../../src/listeners/node-internals.js'
import { basePki, pkiDir } from './tls-helpers.js'

const pki = await basePki(await pkiDir(t))

t.test('a server-side TLSSocket keeps the socket accept() saw as _parent', async (t) => {
  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem })
  const raw: Socket[] = []
  server.on('connection', (socket: Socket) => raw.push(socket))
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const secured = once(server, 'secureConnection') as Promise<[TLSSocket]>
  const client = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, rejectUnauthorized: false })
  t.teardown(() => client.destroy())
  const [socket] = await secured
  t.not(acceptedSocket(socket), socket, 'not the TLSSocket itself')
  t.equal(acceptedSocket(socket), raw[0], 'the raw socket of the connection event')
  socket.destroy()
})

t.test('tls.Server keeps its context as _sharedCreds, which the partial-chain helper replaces', async (t) => {
  const server = createServer({ cert: pki.server.certPem, key: pki.server.keyPem })
  const before = (server as unknown as { _sharedCreds?: unknown })._sharedCreds
  t.ok(before, '_sharedCreds exists')
  setSecureContextWithPartialChain(server, { cert: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem, allowPartialTrustChain: true } as never)
  const after = (server as unknown as { _sharedCreds?: unknown })._sharedCreds
  t.ok(after, 'still there')
  t.not(after, before, 'replaced by the context built with allowPartialTrustChain')
  t.equal(after?.constructor?.name, before?.constructor?.name, 'of the same kind')
})
