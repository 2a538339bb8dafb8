// What the dashboard shows of TLS: a listener's settings, the certificate it serves and its handshake
// failures by reason; certificates near their end (/api/v5/certs/expiring); and a client's certificate,
// authenticator and token expiry in its details.
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import t from 'tap'
import { issueServer } from '../../src/certs/index.js'
import { connectOwned } from '../helpers.js'
import { basePki, handshake, pkiDir, sslOptions, writeFiles } from '../listeners/tls-helpers.js'
import { ADMIN, startApiBroker, until } from './api-helpers.js'

const SECRET = 'dashboard-secret'
const rfc3339 = (validTo: string) => new Date(validTo).toISOString().replace(/\.\d{3}Z$/, '+00:00')

t.test('listener TLS facts, expiring certificates and a client\'s certificate and token', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  // A server certificate with ten days left: inside the 30-day window.
  const short = await issueServer({ ca: pki.ca, cn: 'localhost', sans: ['localhost', '127.0.0.1'], days: 10 })
  await writeFiles(dir, { 'short.pem': short.certPem, 'short.key': short.keyPem })
  const ssl = sslOptions(pki, { certfile: join(dir, 'short.pem'), keyfile: join(dir, 'short.key'), verify: 'verify_peer', fail_if_no_peer_cert: true, ciphers: ['TLS_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256'] })
  const b = await startApiBroker(t, {
    keys: [ADMIN],
    config: {
      listeners: { tcp: { default: { bind: '127.0.0.1:0' } }, ssl: { default: { bind: '127.0.0.1:0', ssl_options: ssl } } },
      authentication: [{ mechanism: 'jwt', from: 'password', secret: SECRET }],
    },
  })
  const sslPort = b.broker.port('ssl')

  // A handshake without a client certificate fails: counted by reason for this listener.
  await handshake(sslPort, { ca: pki.ca.certPem, servername: 'localhost' })
  const listener = await until(async () => {
    const l = (await b.call('/api/v5/listeners/ssl:default')).json
    return Object.keys(l.tls?.handshake_failures ?? {}).length > 0 ? l : undefined
  }, 'the failed handshake counted')
  t.same(Object.keys(listener.tls.handshake_failures), ['no_peer_cert'], 'by reason')
  t.match(listener.tls, { verify: 'verify_peer', fail_if_no_peer_cert: true, versions: ['tlsv1.3', 'tlsv1.2'], depth: 10, device_registry: false })
  t.same(listener.tls.ciphers, ['TLS_AES_128_GCM_SHA256', 'ECDHE-ECDSA-AES128-GCM-SHA256'])
  t.equal(listener.tls.certificates.length, 1)
  const served = listener.tls.certificates[0]
  t.match(served, { kind: 'certfile', source: join(dir, 'short.pem'), sni: null })
  t.match(served.leaf, { subject: 'CN=localhost', issuer: 'CN=Culex Test CA', expired: false })
  t.same(served.leaf.sans, ['DNS:localhost', 'IP:127.0.0.1'])
  t.ok(served.leaf.days_left >= 9 && served.leaf.days_left <= 10, `days_left ${served.leaf.days_left}`)
  t.equal(served.leaf.not_after, rfc3339(new X509Certificate(short.certPem).validTo))
  const list = (await b.call('/api/v5/listeners')).json
  t.equal(list.find((l: { id: string }) => l.id === 'tcp:default').tls, null, 'a tcp listener has no TLS facts')

  // /certs/expiring: the certfile (within 30 days), and an uploaded bundle only with a wider window.
  const upload = await b.call('/api/v5/certs/global/name/web?ignore_validity_window=true', { method: 'POST', json: { chain: pki.server.certPem, key: pki.server.keyPem, ca: pki.ca.certPem } })
  t.equal(upload.status, 204, upload.text)
  const soon = (await b.call('/api/v5/certs/expiring')).json
  t.equal(soon.days, 30)
  t.same(soon.data.map((e: { kind: string, source: string }) => `${e.kind} ${e.source}`), [`certfile ${join(dir, 'short.pem')}`])
  t.same(soon.data[0].used_by, [{ listener: 'ssl:default', sni: null }])
  const wide = (await b.call('/api/v5/certs/expiring?days=36500')).json
  t.same(wide.data.map((e: { kind: string, source: string }) => `${e.kind} ${e.source}`), [`certfile ${join(dir, 'short.pem')}`, 'bundle global/web'], 'soonest first')
  t.same(wide.data[1].used_by, [], 'no listener serves the bundle')
  t.same((await b.call('/api/v5/certs/expiring?days=0')).json.data, [], 'days=0: only those already ended')
  t.equal((await b.call('/api/v5/certs/expiring?days=-1')).status, 400)

  // A client with a certificate and a JWT: its details name both.
  const exp = Math.floor(Date.now() / 1000) + 3600
  const token = await new SignJWT({ exp }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET))
  await connectOwned(t, sslPort, {
    protocol: 'mqtts', clientId: 'tls-client', username: 'u', password: token, protocolVersion: 5,
    ca: pki.ca.certPem, cert: pki.client.certPem, key: pki.client.keyPem, servername: 'localhost',
  })
  const clientCert = new X509Certificate(pki.client.certPem)
  const details = (await b.call('/api/v5/clients/tls-client')).json
  t.match(details, {
    is_ssl: true,
    cert_common_name: 'client',
    cert_subject: 'CN=client',
    cert_issuer: 'CN=Culex Test CA',
    cert_serial: clientCert.serialNumber.toUpperCase(),
    cert_not_after: rfc3339(clientCert.validTo),
    authenticator: 'jwt',
    expire_at: new Date(exp * 1000).toISOString().replace('.000Z', '+00:00'),
  })
  const plain = await connectOwned(t, b.tcpPort, { clientId: 'plain', username: 'u', password: token })
  t.ok(plain.connected)
  t.match((await b.call('/api/v5/clients/plain')).json, { is_ssl: false, cert_issuer: null, cert_serial: null, cert_not_after: null, authenticator: 'jwt' })
})
