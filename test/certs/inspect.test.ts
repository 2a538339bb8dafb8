// inspectPem: per-certificate details (cross-checked with openssl), chain order verdicts, private keys.
import { X509Certificate } from 'node:crypto'
import t from 'tap'
import { createCa, fullChain, inspectPem, issueClient, issueServer } from '../../src/certs/index.js'
import { hasOpenssl, makePki, openssl, tempDir, writeFiles } from './pki.js'

const root = await createCa({ cn: 'Root' })
const intermediate = await createCa({ cn: 'Intermediate', issuer: root })
const leaf = await issueServer({ ca: intermediate, cn: 'mqtt.example.com', sans: ['mqtt.example.com', '192.0.2.7', '::1'] })

t.test('a server certificate is described field by field', { skip: hasOpenssl ? false : 'no openssl' }, async (t) => {
  const report = inspectPem(leaf.certPem)
  t.equal(report.certificates.length, 1)
  const c = report.certificates[0]!
  t.equal(c.subject, 'CN=mqtt.example.com')
  t.equal(c.issuer, 'CN=Intermediate')
  t.same(c.sans, ['DNS:mqtt.example.com', 'IP:192.0.2.7', 'IP:::1'])
  t.equal(c.state, 'valid')
  t.equal(c.daysLeft, 824)
  t.equal(c.key, 'EC P-256')
  t.equal(c.isCa, false)
  t.equal(c.selfSigned, false)
  t.same(c.keyUsage, ['digitalSignature'])
  t.same(c.extendedKeyUsage, ['serverAuth'])
  t.same(report.privateKeys, [])

  const dir = await tempDir(t)
  const f = await writeFiles(dir, { 'leaf.pem': leaf.certPem })
  const fp = (await openssl('x509', '-noout', '-fingerprint', '-sha256', '-in', f['leaf.pem']!)).stdout
  t.equal(c.fingerprint256, fp.trim().split('=')[1])
  const serial = (await openssl('x509', '-noout', '-serial', '-in', f['leaf.pem']!)).stdout
  t.equal(c.serial, serial.trim().split('=')[1])
  const dates = (await openssl('x509', '-noout', '-enddate', '-in', f['leaf.pem']!)).stdout
  t.equal(c.notAfter.getTime(), new Date(dates.trim().split('=')[1]!).getTime())
})

t.test('CA details, validity states and key types', async (t) => {
  const ca = inspectPem(intermediate.certPem).certificates[0]!
  t.equal(ca.isCa, true)
  t.equal(ca.pathLen, 0)
  t.same(ca.keyUsage, ['keyCertSign', 'cRLSign'])
  t.same(ca.extendedKeyUsage, [])
  t.equal(inspectPem(root.certPem).certificates[0]!.selfSigned, true)

  const expired = await issueClient({ ca: root, cn: 'old', days: 1, startDaysAgo: 10 })
  const e = inspectPem(expired.certPem).certificates[0]!
  t.equal(e.state, 'expired')
  t.ok(e.daysLeft <= -9 && e.daysLeft >= -10, `daysLeft ${e.daysLeft}`)
  t.same(e.extendedKeyUsage, ['clientAuth'])
  t.equal(inspectPem(leaf.certPem, new Date(Date.now() - 86400_000)).certificates[0]!.state, 'not yet valid')

  const p384 = await issueClient({ ca: root, cn: 'p384', key: 'ec384' })
  t.equal(inspectPem(p384.certPem).certificates[0]!.key, 'EC P-384')
  t.match(inspectPem(await createCa({ cn: 'r', key: 'rsa2048' }).then((c) => c.certPem)).certificates[0]!.key, 'RSA 2048')
})

t.test('chain order: fullchain, wrong order, reversed, gaps', async (t) => {
  const chain = fullChain(leaf.certPem, intermediate.certPem)
  const ok = inspectPem(chain).chain
  t.same(ok.links, [true])
  t.equal(ok.ordered, true)
  t.equal(ok.verdict, 'in order, leaf first: 2 certificates; the last is issued by CN=Root (not in this file)')

  const withRoot = inspectPem(chain + root.certPem).chain
  t.same(withRoot.links, [true, true])
  t.equal(withRoot.verdict, 'in order, leaf first: 3 certificates ending with the self-signed root CN=Root')

  const swapped = inspectPem(intermediate.certPem + leaf.certPem).chain
  t.equal(swapped.ordered, false)
  t.same(swapped.links, [false])
  t.match(swapped.verdict, /^NOT in order: the certificates are reversed/)

  const reversed = inspectPem(root.certPem + intermediate.certPem + leaf.certPem).chain
  t.same(reversed.links, [false, false])
  t.match(reversed.verdict, /reversed \(root first\)/)

  const gap = inspectPem(leaf.certPem + root.certPem).chain
  t.equal(gap.ordered, false)
  t.equal(gap.verdict, 'NOT in order: certificate 1 (CN=mqtt.example.com) is not issued by certificate 2 (CN=Root)')

  t.equal(inspectPem(root.certPem).chain.verdict, 'a single self-signed certificate')
  t.equal(inspectPem(leaf.certPem).chain.verdict, 'a single certificate, issued by CN=Intermediate (not in this file)')
})

t.test('private keys in the file are found and matched, never returned', async (t) => {
  const pki = await makePki()
  const bundle = inspectPem(`subject=CN = localhost\n${pki.server.certPem}${pki.server.keyPem}`)
  t.same(bundle.privateKeys, [{ encrypted: false, key: 'EC P-256', matchesFirst: true }])
  t.notMatch(JSON.stringify(bundle), pki.server.keyPem.split('\n')[1]!, 'no key material in the report')
  t.same(inspectPem(pki.server.certPem + pki.client.keyPem).privateKeys, [{ encrypted: false, key: 'EC P-256', matchesFirst: false }])
  const locked = await issueClient({ ca: pki.ca, cn: 'locked', keyPassword: 'pw' })
  t.same(inspectPem(locked.certPem + locked.keyPem).privateKeys, [{ encrypted: true }])
  t.same(inspectPem(pki.client.keyPem), { certificates: [], chain: { ordered: true, links: [], verdict: 'no certificate in the file' }, privateKeys: [{ encrypted: false, key: 'EC P-256' }] })
  t.equal(new X509Certificate(pki.server.certPem).fingerprint256, bundle.certificates[0]!.fingerprint256)
})
