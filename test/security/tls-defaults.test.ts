// TLS defaults of an ssl listener configured with only its certificate and key: TLS 1.3 and 1.2 are
// offered, TLS 1.0 and 1.1 refused; no cipher list means Node's default list (tls.DEFAULT_CIPHERS: AEAD
// and forward-secret suites first, then OpenSSL's HIGH without aNULL, eNULL, EXPORT, DES, RC4, MD5, PSK).
import t from 'tap'
import { basePki, handshake, pkiDir, sslOptions, startTlsBroker } from '../listeners/tls-helpers.js'

const pki = await basePki(await pkiDir(t))
const b = await startTlsBroker(t, sslOptions(pki))
const trusted = { ca: pki.ca.certPem, servername: 'localhost', rejectUnauthorized: true }

t.test('TLS 1.3 by default, TLS 1.2 when the client stops there', async (t) => {
  const modern = await handshake(b.sslPort, trusted)
  t.equal(modern.protocol, 'TLSv1.3')
  t.match(modern.cipher, /^TLS_(AES_(128|256)_GCM|CHACHA20_POLY1305)_SHA(256|384)$/, 'an AEAD suite')
  const tls12 = await handshake(b.sslPort, { ...trusted, maxVersion: 'TLSv1.2' })
  t.equal(tls12.protocol, 'TLSv1.2')
  t.match(tls12.cipher, /^ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/, 'forward secret and AEAD')
})

t.test('TLS 1.0 and 1.1 are refused', async (t) => {
  for (const version of ['TLSv1', 'TLSv1.1'] as const) {
    const old = await handshake(b.sslPort, { ...trusted, minVersion: version, maxVersion: version, ciphers: 'DEFAULT@SECLEVEL=0' })
    t.notOk(old.secure, `${version}: no handshake`)
    t.match(old.error, /protocol version|unsupported protocol|no protocols available/i, `${version}: refused for its version`)
  }
})

t.test('Node\'s default cipher list: no NULL, anonymous, DES, RC4 or MD5 suite is negotiated', async (t) => {
  let offered = 0
  for (const cipher of ['ECDHE-ECDSA-NULL-SHA', 'NULL-SHA256', 'AECDH-AES128-SHA', 'ADH-AES128-GCM-SHA256', 'DES-CBC3-SHA', 'RC4-SHA', 'NULL-MD5']) {
    let weak
    try {
      weak = await handshake(b.sslPort, { ...trusted, maxVersion: 'TLSv1.2', ciphers: `${cipher}@SECLEVEL=0` })
    } catch (err) {
      // This OpenSSL cannot even offer it (DES and RC4 are compiled out of Node's).
      t.match((err as Error).message, /no cipher match/, `${cipher}: the client cannot offer it`)
      continue
    }
    offered++
    t.notOk(weak.secure, `${cipher}: no handshake (${weak.cipher ?? weak.error})`)
  }
  t.ok(offered >= 3, `${offered} weak suites were offered and refused`)
})
