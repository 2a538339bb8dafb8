// ssl_options.crlfile: a client certificate listed in the CRL is refused with that reason; others connect.
import { createPrivateKey, webcrypto } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { issueClient } from '../../src/certs/index.js'
import { x509 } from '../../src/certs/x509.js'
import { basePki, failureFrom, handshake, pkiDir, sslOptions, startTlsBroker } from './tls-helpers.js'

/** A CRL signed by the (EC P-256) CA revoking the given serial numbers. */
async function crl (caCertPem: string, caKeyPem: string, revoked: string[]): Promise<string> {
  const der = createPrivateKey(caKeyPem).export({ type: 'pkcs8', format: 'der' })
  const signingKey = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
  const issued = await x509.X509CrlGenerator.create({
    issuer: new x509.X509Certificate(caCertPem).subject,
    thisUpdate: new Date(Date.now() - 60_000),
    nextUpdate: new Date(Date.now() + 86_400_000),
    entries: revoked.map((serialNumber) => ({ serialNumber, revocationDate: new Date(Date.now() - 60_000) })),
    signingKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  })
  // OpenSSL reads the "X509 CRL" PEM label; the library's own is "CRL".
  return x509.PemConverter.encode(issued.rawData, 'X509 CRL')
}

t.test('a revoked client certificate is refused, the others connect', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const revoked = await issueClient({ ca: pki.ca, cn: 'revoked-device' })
  const serial = new x509.X509Certificate(revoked.certPem).serialNumber
  const crlfile = join(dir, 'ca.crl.pem')
  writeFileSync(crlfile, await crl(pki.ca.certPem, pki.ca.keyPem, [serial]))
  const b = await startTlsBroker(t, sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: true, crlfile }))

  const good = await handshake(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', cert: pki.client.certPem, key: pki.client.keyPem })
  t.ok(good.secure && !good.closedAfterHandshake, 'a certificate not in the CRL connects')

  const bad = await handshake(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', cert: revoked.certPem, key: revoked.keyPem })
  t.ok(bad.closedAfterHandshake || bad.error, 'the revoked certificate is refused')
  const line = await failureFrom(b, bad.localPort)
  t.match(line, { listener: 'ssl:default', reason: 'cert_revoked', msg: /revoked/ })
  t.ok((b.broker.core.metrics.tlsFailures.cert_revoked ?? 0) >= 1, 'counted under cert_revoked')
})

t.test('an unreadable crlfile stops start-up naming ssl_options.crlfile', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  await t.rejects(startTlsBroker(t, sslOptions(pki, { verify: 'verify_peer', crlfile: join(dir, 'missing.crl') })),
    { code: 'CULEX_ERR_TLS_CONFIG', message: /ssl_options\.crlfile .*missing\.crl: ENOENT/ })
})
