// Real TLS handshakes with generated certificates: server identity by DNS and IP SAN, mutual TLS, chains.
import { once } from 'node:events'
import { connect, createServer, type ConnectionOptions, type TLSSocket } from 'node:tls'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { createCa, fullChain, issueClient, issueServer, type Issued } from '../../src/certs/index.js'
import { makePki } from './pki.js'

interface TestServer { port: number, peers: string[] }

/**
 * A TLS server that answers "hello <client CN or anonymous>" and closes. With mtls.reject false it lets
 * unverified clients finish the handshake and answers "refused <OpenSSL's reason>" instead.
 */
async function tlsServer (t: { teardown: (fn: () => Promise<void>) => void }, cert: string, key: string, mtls?: { ca: string, reject: boolean }, host = '127.0.0.1'): Promise<TestServer> {
  const peers: string[] = []
  const server = createServer({
    cert,
    key,
    ...(mtls ? { ca: mtls.ca, requestCert: true, rejectUnauthorized: mtls.reject } : {}),
  }, (socket) => {
    if (mtls && !socket.authorized) { socket.end(`refused ${String(socket.authorizationError)}`); return }
    const cn = socket.getPeerCertificate().subject?.CN
    peers.push(String(cn ?? 'anonymous'))
    socket.end(`hello ${cn ?? 'anonymous'}`)
  })
  server.listen(0, host)
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { port: (server.address() as AddressInfo).port, peers }
}

interface Outcome { authorized: boolean, error?: string, data: string }

/** Connects, reads until the server closes (or an error); bounded to 5 s. */
function talk (options: ConnectionOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    let data = ''
    let authorized = false
    const socket: TLSSocket = connect({ ...options, timeout: 5000 })
    const timer = setTimeout(() => { socket.destroy(); resolve({ authorized, error: 'timeout', data }) }, 5000)
    const done = (error?: string) => { clearTimeout(timer); resolve({ authorized, data, ...(error ? { error } : {}) }) }
    socket.on('secureConnect', () => { authorized = socket.authorized })
    socket.on('data', (d: Buffer) => { data += d.toString() })
    socket.on('error', (err) => { socket.destroy(); done(err.message) })
    socket.on('close', () => done())
  })
}

const pki = await makePki()
const keyed = (i: Issued) => ({ cert: i.certPem, key: i.keyPem })

t.test('server certificate: verified by name localhost and by IP 127.0.0.1', async (t) => {
  const server = await tlsServer(t, pki.server.certPem, pki.server.keyPem)
  const byName = await talk({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: pki.ca.certPem })
  t.same(byName, { authorized: true, data: 'hello anonymous' })
  const byIp = await talk({ host: '127.0.0.1', port: server.port, ca: pki.ca.certPem })
  t.same(byIp, { authorized: true, data: 'hello anonymous' }, 'the IP SAN matches the host')
  const v6 = await tlsServer(t, pki.server.certPem, pki.server.keyPem, undefined, '::1').catch(() => null)
  if (v6) t.same(await talk({ host: '::1', port: v6.port, ca: pki.ca.certPem }), { authorized: true, data: 'hello anonymous' }, 'the IPv6 SAN ::1 matches')
  const wrongName = await talk({ host: '127.0.0.1', port: server.port, servername: 'mqtt.example.com', ca: pki.ca.certPem })
  t.match(wrongName.error, /Hostname\/IP does not match certificate's altnames/)
  const otherCa = await createCa({ cn: 'Other CA' })
  const untrusted = await talk({ host: '127.0.0.1', port: server.port, servername: 'localhost', ca: otherCa.certPem })
  t.match(untrusted.error, /unable to verify the first certificate/)
})

t.test('mutual TLS: the client certificate is required and checked', async (t) => {
  const expired = await issueClient({ ca: pki.ca, cn: 'expired', days: 1, startDaysAgo: 10 })
  const stranger = await issueClient({ ca: await createCa({ cn: 'Stranger CA' }), cn: 'stranger' })

  const strict = await tlsServer(t, pki.server.certPem, pki.server.keyPem, { ca: pki.ca.certPem, reject: true })
  const base = { host: '127.0.0.1', port: strict.port, servername: 'localhost', ca: pki.ca.certPem }
  t.same(await talk({ ...base, ...keyed(pki.client) }), { authorized: true, data: 'hello client' })
  t.equal((await talk(base)).data, '', 'no answer without a client certificate')
  t.equal((await talk({ ...base, ...keyed(expired) })).data, '', 'no answer to an expired client certificate')
  t.equal((await talk({ ...base, ...keyed(stranger) })).data, '', 'no answer to a client of another CA')
  t.same(strict.peers, ['client'], 'only the valid client got through')

  // The same checks, with OpenSSL's reasons reported back to the client.
  const telling = await tlsServer(t, pki.server.certPem, pki.server.keyPem, { ca: pki.ca.certPem, reject: false })
  const port = telling.port
  t.equal((await talk({ ...base, port, ...keyed(pki.client) })).data, 'hello client')
  t.equal((await talk({ ...base, port, ...keyed(expired) })).data, 'refused CERT_HAS_EXPIRED')
  t.equal((await talk({ ...base, port, ...keyed(stranger) })).data, 'refused UNABLE_TO_VERIFY_LEAF_SIGNATURE')
})

t.test('an intermediate chain is accepted by a client that trusts only the root', async (t) => {
  const root = await createCa({ cn: 'Root' })
  const intermediate = await createCa({ cn: 'Intermediate', issuer: root })
  const leaf = await issueServer({ ca: intermediate, cn: 'localhost', sans: ['localhost', '127.0.0.1'] })
  const withChain = await tlsServer(t, fullChain(leaf.certPem, intermediate.certPem), leaf.keyPem)
  t.same(await talk({ host: '127.0.0.1', port: withChain.port, servername: 'localhost', ca: root.certPem }), { authorized: true, data: 'hello anonymous' })
  const leafOnly = await tlsServer(t, leaf.certPem, leaf.keyPem)
  t.match((await talk({ host: '127.0.0.1', port: leafOnly.port, servername: 'localhost', ca: root.certPem })).error, /unable to verify the first certificate/, 'without the chain the client cannot build the path')
})

t.test('RSA and P-384 server keys complete a handshake', async (t) => {
  for (const key of ['rsa2048', 'ec384'] as const) {
    const server = await issueServer({ ca: pki.ca, cn: 'localhost', sans: ['127.0.0.1'], key })
    const s = await tlsServer(t, server.certPem, server.keyPem)
    t.same(await talk({ host: '127.0.0.1', port: s.port, ca: pki.ca.certPem }), { authorized: true, data: 'hello anonymous' }, key)
  }
  const rsaTls12 = await issueServer({ ca: pki.ca, cn: 'localhost', sans: ['127.0.0.1'], key: 'rsa2048' })
  const s = await tlsServer(t, rsaTls12.certPem, rsaTls12.keyPem)
  t.same(await talk({ host: '127.0.0.1', port: s.port, ca: pki.ca.certPem, maxVersion: 'TLSv1.2', ciphers: 'AES128-GCM-SHA256' }), { authorized: true, data: 'hello anonymous' }, 'TLS 1.2 RSA key transport (keyEncipherment)')
})
