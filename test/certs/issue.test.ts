// Issuance checked against the system openssl and against verifyChain: extensions, algorithms, chains, validity.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import t from 'tap'
import { createCa, fullChain, issueClient, issueServer, verifyChain } from '../../src/certs/index.js'
import { hasOpenssl, makePki, openssl, tamperSignature, tempDir, writeFiles } from './pki.js'

const skip = hasOpenssl ? false : 'no /usr/bin/openssl'

t.test('CA, server and client certificates verify with verifyChain and openssl verify', { skip }, async (t) => {
  const pki = await makePki()
  t.same(verifyChain({ caPem: pki.ca.certPem, certPem: pki.server.certPem }), { ok: true, path: ['CN=localhost', 'CN=Test CA'] })
  t.equal(verifyChain({ caPem: pki.ca.certPem, certPem: pki.client.certPem }).ok, true)

  const dir = await tempDir(t)
  const f = await writeFiles(dir, { 'ca.pem': pki.ca.certPem, 'server.pem': pki.server.certPem, 'client.pem': pki.client.certPem })
  const verified = await openssl('verify', '-CAfile', f['ca.pem']!, f['server.pem']!, f['client.pem']!)
  t.equal(verified.code, 0, verified.stderr)
  t.match(verified.stdout, /server\.pem: OK/)
  t.match(verified.stdout, /client\.pem: OK/)
  // openssl's purpose checks use the EKU: the server cert is for sslserver, the client cert for sslclient.
  t.equal((await openssl('verify', '-purpose', 'sslserver', '-CAfile', f['ca.pem']!, f['server.pem']!)).code, 0)
  t.equal((await openssl('verify', '-purpose', 'sslclient', '-CAfile', f['ca.pem']!, f['client.pem']!)).code, 0)
  t.not((await openssl('verify', '-purpose', 'sslserver', '-CAfile', f['ca.pem']!, f['client.pem']!)).code, 0, 'a client cert is not a server cert')

  const server = (await openssl('x509', '-noout', '-text', '-in', f['server.pem']!)).stdout
  t.match(server, /Version: 3 \(0x2\)/)
  t.match(server, /Signature Algorithm: ecdsa-with-SHA256/)
  t.match(server, /DNS:localhost, IP Address:127\.0\.0\.1, IP Address:0:0:0:0:0:0:0:1/)
  t.match(server, /Extended Key Usage: *\n *TLS Web Server Authentication\n/)
  t.match(server, /Basic Constraints: critical\n *CA:FALSE/)
  t.match(server, /Key Usage: critical\n *Digital Signature\n/)
  t.match(server, /Subject: CN = localhost/)

  const client = (await openssl('x509', '-noout', '-text', '-in', f['client.pem']!)).stdout
  t.match(client, /Version: 3 \(0x2\)/)
  t.match(client, /Extended Key Usage: *\n *TLS Web Client Authentication\n/)
  t.notMatch(client, /Subject Alternative Name/)

  const ca = (await openssl('x509', '-noout', '-text', '-in', f['ca.pem']!)).stdout
  t.match(ca, /Basic Constraints: critical\n *CA:TRUE, pathlen:1/)
  t.match(ca, /Key Usage: critical\n *Certificate Sign, CRL Sign/)
  const ski = /Subject Key Identifier: *\n *([0-9A-F:]+)/.exec(ca)?.[1]
  t.ok(ski)
  t.match(server, new RegExp(`Authority Key Identifier: *\\n *(keyid:)?${ski}`), 'the leaf names the CA key')
})

t.test('serial numbers are 16 random bytes, positive', async (t) => {
  const { ca } = await makePki()
  const a = new X509Certificate((await issueClient({ ca, cn: 'a' })).certPem).serialNumber
  const b = new X509Certificate((await issueClient({ ca, cn: 'b' })).certPem).serialNumber
  for (const serial of [a, b]) {
    t.match(serial, /^[0-9A-F]{32}$/)
    t.ok(parseInt(serial.slice(0, 2), 16) < 0x80, 'high bit clear')
  }
  t.not(a, b)
})

t.test('RSA 2048 and EC P-384 keys sign with the matching algorithm', { skip }, async (t) => {
  const dir = await tempDir(t)
  const rsaCa = await createCa({ cn: 'RSA CA', key: 'rsa2048' })
  const rsaServer = await issueServer({ ca: rsaCa, cn: 'localhost', key: 'rsa2048' })
  const ecCa = await createCa({ cn: 'P-384 CA', key: 'ec384' })
  const ecServer = await issueServer({ ca: ecCa, cn: 'localhost', key: 'ec384' })
  const f = await writeFiles(dir, { 'rsa-ca.pem': rsaCa.certPem, 'rsa.pem': rsaServer.certPem, 'ec-ca.pem': ecCa.certPem, 'ec.pem': ecServer.certPem })

  const rsa = (await openssl('x509', '-noout', '-text', '-in', f['rsa.pem']!)).stdout
  t.match(rsa, /Signature Algorithm: sha256WithRSAEncryption/)
  t.match(rsa, /Public-Key: \(2048 bit\)/)
  t.match(rsa, /Key Usage: critical\n *Digital Signature, Key Encipherment/, 'RSA key transport needs keyEncipherment')
  t.match(rsa, /DNS:localhost/, 'without SANs the CN is the SAN')
  const ec = (await openssl('x509', '-noout', '-text', '-in', f['ec.pem']!)).stdout
  t.match(ec, /Signature Algorithm: ecdsa-with-SHA384/)
  t.match(ec, /NIST CURVE: P-384/)

  t.equal((await openssl('verify', '-CAfile', f['rsa-ca.pem']!, f['rsa.pem']!)).code, 0)
  t.equal((await openssl('verify', '-CAfile', f['ec-ca.pem']!, f['ec.pem']!)).code, 0)
  t.equal(verifyChain({ caPem: rsaCa.certPem, certPem: rsaServer.certPem }).ok, true)
  t.equal(verifyChain({ caPem: ecCa.certPem, certPem: ecServer.certPem }).ok, true)
  t.equal(createPrivateKey(rsaServer.keyPem).asymmetricKeyDetails?.modulusLength, 2048)
  t.equal(createPrivateKey(ecServer.keyPem).asymmetricKeyDetails?.namedCurve, 'secp384r1')
  t.match(rsaServer.keyPem, /^-----BEGIN PRIVATE KEY-----\n/, 'PKCS#8')
})

t.test('an expired or not yet valid certificate is refused with its date', { skip }, async (t) => {
  const { ca } = await makePki()
  const expired = await issueClient({ ca, cn: 'old', days: 1, startDaysAgo: 10 })
  const cert = new X509Certificate(expired.certPem)
  t.ok(new Date(cert.validTo).getTime() < Date.now() - 8 * 86400_000, 'notAfter = notBefore + 1 day, 9 days ago')
  const result = verifyChain({ caPem: ca.certPem, certPem: expired.certPem })
  t.equal(result.ok, false)
  t.match(result.reason, /^CN=old expired on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/)

  const dir = await tempDir(t)
  const f = await writeFiles(dir, { 'ca.pem': ca.certPem, 'old.pem': expired.certPem })
  const byOpenssl = await openssl('verify', '-CAfile', f['ca.pem']!, f['old.pem']!)
  t.not(byOpenssl.code, 0)
  t.match(byOpenssl.stdout + byOpenssl.stderr, /certificate has expired/)

  const fresh = await issueClient({ ca, cn: 'fresh' })
  const early = verifyChain({ caPem: ca.certPem, certPem: fresh.certPem, at: new Date(Date.now() - 86400_000) })
  t.match(early.reason, /^CN=fresh is not valid before /)
  t.equal(verifyChain({ caPem: ca.certPem, certPem: fresh.certPem, at: new Date(Date.now() + 800 * 86400_000) }).ok, true, 'default 825 days')
})

t.test('an unknown CA, a broken signature and a non-CA issuer are told apart', async (t) => {
  const pki = await makePki()
  const other = await createCa({ cn: 'Other CA' })
  t.same(verifyChain({ caPem: other.certPem, certPem: pki.server.certPem }), {
    ok: false, reason: 'signed by an unknown CA (issuer CN=Test CA)', path: ['CN=localhost'],
  })
  const tampered = verifyChain({ caPem: pki.ca.certPem, certPem: tamperSignature(pki.server.certPem) })
  t.match(tampered.reason, /^signature does not verify/)
  const selfSigned = verifyChain({ caPem: pki.ca.certPem, certPem: other.certPem })
  t.match(selfSigned.reason, /CN=Other CA is self-signed and not in the CA file/)
  t.same(verifyChain({ caPem: pki.ca.certPem, certPem: pki.ca.certPem }).ok, true, 'a root verifies against itself')
  t.match(verifyChain({ caPem: pki.ca.certPem, certPem: 'nothing' }).reason, /no certificate/)
  await t.rejects(issueClient({ ca: pki.server, cn: 'x' }), /not a CA certificate/, 'a server cert cannot issue')
  await t.rejects(issueClient({ ca: { certPem: pki.ca.certPem, keyPem: other.keyPem }, cn: 'x' }), /CA key does not belong/)
})

t.test('root → intermediate → server: the fullchain verifies with only the root as CA', { skip }, async (t) => {
  const root = await createCa({ cn: 'Root' })
  const intermediate = await createCa({ cn: 'Intermediate', issuer: root, key: 'ec384' })
  const server = await issueServer({ ca: intermediate, cn: 'mqtt.example.com', sans: ['mqtt.example.com', '10.1.2.3'] })
  const chain = fullChain(server.certPem, intermediate.certPem + root.certPem)
  t.equal(chain.match(/BEGIN CERTIFICATE/g)?.length, 2, 'the root is left out of the chain')

  t.same(verifyChain({ caPem: root.certPem, certPem: chain }), { ok: true, path: ['CN=mqtt.example.com', 'CN=Intermediate', 'CN=Root'] })
  t.equal(verifyChain({ caPem: intermediate.certPem + root.certPem, certPem: server.certPem }).ok, true, 'intermediate in the CA file')
  t.match(verifyChain({ caPem: root.certPem, certPem: server.certPem }).reason, 'signed by an unknown CA (issuer CN=Intermediate)')
  t.match(verifyChain({ caPem: intermediate.certPem, certPem: server.certPem }).reason, /holds CN=Intermediate but not the root/)

  const dir = await tempDir(t)
  const f = await writeFiles(dir, { 'root.pem': root.certPem, 'inter.pem': intermediate.certPem, 'server.pem': server.certPem })
  t.equal((await openssl('verify', '-CAfile', f['root.pem']!, '-untrusted', f['inter.pem']!, f['server.pem']!)).code, 0)
  const inter = (await openssl('x509', '-noout', '-text', '-in', f['inter.pem']!)).stdout
  t.match(inter, /CA:TRUE, pathlen:0/)
  t.match(inter, /Issuer: CN = Root/)
  t.match(inter, /Signature Algorithm: ecdsa-with-SHA256/, 'signed by the P-256 root')

  await t.rejects(createCa({ cn: 'Too deep', issuer: intermediate }), /pathLen 0/)
})

t.test('an encrypted key loads with its passphrase only', { skip }, async (t) => {
  const ca = await createCa({ cn: 'Locked CA', keyPassword: 'correct horse' })
  t.match(ca.keyPem, /^-----BEGIN ENCRYPTED PRIVATE KEY-----\n/)
  t.equal(createPrivateKey({ key: ca.keyPem, passphrase: 'correct horse' }).asymmetricKeyType, 'ec')
  t.throws(() => createPrivateKey(ca.keyPem))
  t.throws(() => createPrivateKey({ key: ca.keyPem, passphrase: 'wrong' }))

  const dir = await tempDir(t)
  const f = await writeFiles(dir, { 'ca.key': ca.keyPem })
  const asn1 = await openssl('asn1parse', '-in', f['ca.key']!)
  t.match(asn1.stdout, /aes-256-cbc/, 'PBES2 with AES-256-CBC')
  t.equal((await openssl('pkey', '-in', f['ca.key']!, '-passin', 'pass:correct horse', '-noout')).code, 0)

  await t.rejects(issueServer({ ca, cn: 'localhost' }), /CA key is encrypted/)
  await t.rejects(issueServer({ ca: { ...ca, keyPassword: 'nope' }, cn: 'localhost' }), /wrong password/)
  const server = await issueServer({ ca: { ...ca, keyPassword: 'correct horse' }, cn: 'localhost' })
  t.equal(verifyChain({ caPem: ca.certPem, certPem: server.certPem }).ok, true)
})

t.test('eku override and SAN syntax', { skip }, async (t) => {
  const { ca } = await makePki()
  const both = await issueServer({ ca, cn: 'node1', sans: ['node1.local', '[fe80::1]'], eku: ['serverAuth', 'clientAuth'] })
  const dir = await tempDir(t)
  const f = await writeFiles(dir, { 'both.pem': both.certPem })
  const text = (await openssl('x509', '-noout', '-text', '-in', f['both.pem']!)).stdout
  t.match(text, /TLS Web Server Authentication, TLS Web Client Authentication/)
  t.match(text, /DNS:node1\.local, IP Address:FE80:0:0:0:0:0:0:1/)
  await t.rejects(issueServer({ ca, cn: 'x', sans: ['not a name'] }), /neither a DNS name nor an IP address/)
  await t.rejects(issueClient({ ca, cn: 'x', eku: ['sorcery'] }), /unknown extended key usage sorcery/)
  await t.rejects(issueClient({ ca, cn: '' }), /must not be empty/)
})
