// Client certificate checks on the ssl listener: seed 003's verify table, expiry, chains through an
// intermediate CA (depth, partial_chain, fullchain server certificates) and the Extended Key Usage rule.
import { X509Certificate } from 'node:crypto'
import t, { type Test } from 'tap'
import { createCa, fullChain, issueClient, issueServer, type Issued } from '../../src/certs/index.js'
import type { ClientInfo } from '../../src/mqtt/hooks.js'
import { end } from '../helpers.js'
import { basePki, failureFrom, handshake, mqttTry, pkiDir, sslOptions, startTlsBroker, writeFiles, type MqttOutcome } from '../listeners/tls-helpers.js'

const dir = await pkiDir(t)
const pki = await basePki(dir)
const otherCa = await createCa({ cn: 'Other CA' })
const stranger = await issueClient({ ca: otherCa, cn: 'stranger' })
const expired = await issueClient({ ca: pki.ca, cn: 'expired', days: 1, startDaysAgo: 10 })

// root → intermediate → server and client leaves.
const root = await createCa({ cn: 'Chain Root' })
const intermediate = await createCa({ cn: 'Chain Intermediate', issuer: root })
const chainServer = await issueServer({ ca: intermediate, cn: 'localhost', sans: ['localhost', '127.0.0.1'] })
const chainClient = await issueClient({ ca: intermediate, cn: 'chained' })
const chainFiles = await writeFiles(dir, {
  'root.pem': root.certPem,
  'intermediate.pem': intermediate.certPem,
  'fullchain.pem': fullChain(chainServer.certPem, intermediate.certPem),
  'chain-server.pem': chainServer.certPem,
  'chain-server.key': chainServer.keyPem,
})

const keyed = (i: Issued) => ({ cert: i.certPem, key: i.keyPem })
const viaBase = { ca: pki.ca.certPem, servername: 'localhost' }

/** A broker whose accepted clients are recorded. */
async function brokerWith (t: Test, ssl: Record<string, unknown>) {
  const b = await startTlsBroker(t, ssl)
  const clients: ClientInfo[] = []
  b.broker.addHook('clientConnected', (c) => clients.push(c))
  return { ...b, clients }
}

/** An accepted connection: returns the ClientInfo the broker made for it. */
async function accepted (t: Test, b: Awaited<ReturnType<typeof brokerWith>>, attempt: MqttOutcome, what: string): Promise<ClientInfo | undefined> {
  t.ok(attempt.client, `${what}: accepted (${attempt.error?.message ?? 'connected'})`)
  if (attempt.client) await end(attempt.client)
  return b.clients.at(-1)
}

/** A refused connection: asserts the client was not connected and the broker's log line and counter. */
async function refused (t: Test, b: Awaited<ReturnType<typeof brokerWith>>, attempt: MqttOutcome, reason: string, words: RegExp, what: string): Promise<void> {
  t.equal(attempt.client, null, `${what}: the client sees the connection end before CONNACK`)
  const line = await failureFrom(b, attempt.localPort)
  t.match(line, { listener: 'ssl:default', sni: 'localhost', reason, msg: words }, `${what}: logged as ${reason}`)
  t.ok((b.broker.core.metrics.tlsFailures[reason] ?? 0) >= 1, `${what}: counted under ${reason}`)
}

t.test('verify_none asks for no certificate: a client offering one connects, client.cert undefined', async (t) => {
  const b = await brokerWith(t, sslOptions(pki, { verify: 'verify_none' }))
  const own = await accepted(t, b, await mqttTry(b.sslPort, { ...viaBase, ...keyed(pki.client), clientId: 'offers-valid' }, t), 'valid certificate offered')
  t.equal(own?.cert, undefined, 'no certificate was asked for, so none is known')
  const foreign = await accepted(t, b, await mqttTry(b.sslPort, { ...viaBase, ...keyed(stranger), clientId: 'offers-foreign' }, t), 'foreign certificate offered')
  t.equal(foreign?.clientId, 'offers-foreign')
  t.equal(foreign?.cert, undefined)
  t.same(b.broker.core.metrics.tlsFailures, {})
})

t.test('verify_peer, fail_if_no_peer_cert = false: none accepted, valid accepted with client.cert, other CA refused', async (t) => {
  const b = await brokerWith(t, sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: false }))
  const none = await accepted(t, b, await mqttTry(b.sslPort, { ...viaBase, clientId: 'no-cert' }, t), 'no certificate')
  t.match(none, { clientId: 'no-cert', cert: undefined })
  const valid = await accepted(t, b, await mqttTry(b.sslPort, { ...viaBase, ...keyed(pki.client), clientId: 'valid' }, t), 'valid certificate')
  t.match(valid, { clientId: 'valid', cert: { cn: 'client', issuer: 'CN=Culex Test CA' }, tls: { peerCert: { cn: 'client' } } })
  await refused(t, b, await mqttTry(b.sslPort, { ...viaBase, ...keyed(stranger), clientId: 'stranger' }, t),
    'unknown_ca', /TLS handshake failed: the client certificate .*not .*in ssl_options\.cacertfile/, 'certificate from another CA')
  t.same(b.clients.map((c) => c.clientId), ['no-cert', 'valid'])
})

t.test('verify_peer, fail_if_no_peer_cert = true: none refused (no_peer_cert), valid accepted', async (t) => {
  const b = await brokerWith(t, sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: true }))
  await refused(t, b, await mqttTry(b.sslPort, { ...viaBase, clientId: 'no-cert' }, t),
    'no_peer_cert', /sent no certificate; ssl_options\.fail_if_no_peer_cert = true requires one/, 'no certificate')
  const valid = await accepted(t, b, await mqttTry(b.sslPort, { ...viaBase, ...keyed(pki.client), clientId: 'valid' }, t), 'valid certificate')
  t.match(valid?.cert, { cn: 'client', subject: 'CN=client' })
  t.same(b.broker.core.metrics.tlsFailures, { no_peer_cert: 1 })
  t.equal(b.broker.core.metrics.tlsHandshakes, 1, 'only the accepted handshake counts as done')
})

t.test('an expired client certificate is refused with cert_expired', async (t) => {
  const b = await brokerWith(t, sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: true }))
  await refused(t, b, await mqttTry(b.sslPort, { ...viaBase, ...keyed(expired), clientId: 'expired' }, t),
    'cert_expired', /the client certificate has expired/, 'expired certificate')
  t.same(b.clients, [], 'never connected')
})

t.test('a server fullchain (leaf + intermediate) verifies for clients that trust only the root', async (t) => {
  const b = await brokerWith(t, sslOptions(pki, { certfile: chainFiles['fullchain.pem'], keyfile: chainFiles['chain-server.key'] }))
  const ok = await mqttTry(b.sslPort, { ca: root.certPem, servername: 'localhost', clientId: 'root-only' }, t)
  await accepted(t, b, ok, 'client trusting the root')
  const h = await handshake(b.sslPort, { ca: root.certPem, servername: 'localhost', rejectUnauthorized: true })
  t.equal(h.authorizationError, null, 'Node verifies the chain')
  t.equal(h.fingerprint, new X509Certificate(chainServer.certPem).fingerprint256, 'the leaf is the server certificate')
  const leafOnly = await brokerWith(t, sslOptions(pki, { certfile: chainFiles['chain-server.pem'], keyfile: chainFiles['chain-server.key'] }))
  const broken = await mqttTry(leafOnly.sslPort, { ca: root.certPem, servername: 'localhost', clientId: 'no-chain' }, t)
  t.equal(broken.error?.code, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'without the intermediate in certfile the client cannot build the path')
})

t.test('client certificates from an intermediate: chain sent, depth and partial_chain', async (t) => {
  const withChain = { ...viaBase, cert: chainClient.certPem + intermediate.certPem, key: chainClient.keyPem }
  const leafOnly = { ...viaBase, ...keyed(chainClient) }

  const rootTrust = await brokerWith(t, sslOptions(pki, { cacertfile: chainFiles['root.pem'], verify: 'verify_peer', fail_if_no_peer_cert: true }))
  const chained = await accepted(t, rootTrust, await mqttTry(rootTrust.sslPort, { ...withChain, clientId: 'chained' }, t), 'leaf + intermediate sent, root trusted')
  t.match(chained?.cert, { cn: 'chained', issuer: 'CN=Chain Intermediate' })
  await refused(t, rootTrust, await mqttTry(rootTrust.sslPort, { ...leafOnly, clientId: 'leaf-only' }, t),
    'unknown_ca', /not signed by a CA in ssl_options\.cacertfile/, 'leaf without its intermediate')

  const depth0 = await brokerWith(t, sslOptions(pki, { cacertfile: chainFiles['root.pem'], verify: 'verify_peer', fail_if_no_peer_cert: true, depth: 0 }))
  await refused(t, depth0, await mqttTry(depth0.sslPort, { ...withChain, clientId: 'too-deep' }, t),
    'chain_too_deep', /chain has 1 intermediate CAs; ssl_options\.depth allows 0/, 'depth = 0 with one intermediate')
  t.same(depth0.clients, [])

  const depth0Direct = await brokerWith(t, sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: true, depth: 0 }))
  await accepted(t, depth0Direct, await mqttTry(depth0Direct.sslPort, { ...viaBase, ...keyed(pki.client), clientId: 'direct' }, t), 'depth = 0, certificate signed by the trusted CA itself')

  const interOnly = { cacertfile: chainFiles['intermediate.pem'], verify: 'verify_peer', fail_if_no_peer_cert: true }
  const strict = await brokerWith(t, sslOptions(pki, interOnly))
  await refused(t, strict, await mqttTry(strict.sslPort, { ...leafOnly, clientId: 'no-partial' }, t),
    'unknown_ca', /ssl_options\.cacertfile/, 'cacertfile = intermediate only, partial_chain off')
  const partial = await brokerWith(t, sslOptions(pki, { ...interOnly, partial_chain: true }))
  const anchored = await accepted(t, partial, await mqttTry(partial.sslPort, { ...leafOnly, clientId: 'partial' }, t), 'partial_chain = true, cacertfile = intermediate only')
  t.match(anchored?.cert, { cn: 'chained' })
})

t.test('verify_peer_ext_key_usage = clientAuth: a serverAuth-only client certificate is refused', async (t) => {
  const serverOnly = await issueClient({ ca: pki.ca, cn: 'server-eku', eku: ['serverAuth'] })
  const b = await brokerWith(t, sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: true, verify_peer_ext_key_usage: 'clientAuth' }))
  await refused(t, b, await mqttTry(b.sslPort, { ...viaBase, ...keyed(serverOnly), clientId: 'server-eku' }, t),
    'bad_key_usage', /Extended Key Usage/, 'serverAuth-only certificate')
  const good = await accepted(t, b, await mqttTry(b.sslPort, { ...viaBase, ...keyed(pki.client), clientId: 'client-eku' }, t), 'clientAuth certificate')
  t.equal(good?.clientId, 'client-eku')
  t.same(b.clients.map((c) => c.clientId), ['client-eku'])
})

t.test('peer_cert_as_username with fail_if_no_peer_cert = false: a client without a certificate cannot name itself (issue 15 item 9)', async (t) => {
  const b = await startTlsBroker(t, sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: false }), { config: { mqtt: { peer_cert_as_username: 'cn' } } })
  const clients: ClientInfo[] = []
  b.broker.addHook('clientConnected', (c) => clients.push(c))

  const v4 = await mqttTry(b.sslPort, { ...viaBase, clientId: 'claims-client', username: 'client' }, t)
  t.equal(v4.client, null, 'no certificate, user name "client" claimed: refused')
  t.equal(v4.error?.code, 4, 'CONNACK 4 Bad user name or password (3.1.1)')
  const v5 = await mqttTry(b.sslPort, { ...viaBase, protocolVersion: 5, clientId: 'anonymous-v5' }, t)
  t.equal(v5.error?.code, 0x86, 'no certificate and no user name: CONNACK 0x86 (MQTT 5)')
  t.ok(b.logs.some((l) => /refused CONNECT: mqtt\.peer_cert_as_username = cn and the client sent no certificate/.test(String(l.msg))), 'the refusal is logged with its reason')

  const own = await mqttTry(b.sslPort, { ...viaBase, ...keyed(pki.client), clientId: 'with-cert', username: 'admin' }, t)
  t.ok(own.client, `with its certificate the client connects (${own.error?.message ?? 'ok'})`)
  if (own.client) await end(own.client)
  t.same(clients.map((c) => [c.clientId, c.username]), [['with-cert', 'client']], 'only the certificate\'s CN became a user name')
})

t.test('verify_none listener with peer_cert_as_username: no certificate is asked for, the CONNECT user name stands (as on TCP)', async (t) => {
  const b = await startTlsBroker(t, sslOptions(pki, { verify: 'verify_none' }), { config: { mqtt: { peer_cert_as_username: 'cn' } } })
  const clients: ClientInfo[] = []
  b.broker.addHook('clientConnected', (c) => clients.push(c))
  const attempt = await mqttTry(b.sslPort, { ...viaBase, clientId: 'one-way', username: 'u1' }, t)
  t.ok(attempt.client, 'connected')
  if (attempt.client) await end(attempt.client)
  t.equal(clients[0]?.username, 'u1')
})
