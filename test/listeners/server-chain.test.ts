// src/listeners/tls-context.ts withIssuers: a server certificate alone in certfile goes out with its issuers
// from the CA file, built once (OpenSSL would build the same chain at every handshake); a certfile that
// holds a chain, or whose issuer is not in the CA file, goes out as it is. Checked on the wire with openssl s_client.
import { X509Certificate } from 'node:crypto'
import { existsSync } from 'node:fs'
import t from 'tap'
import { createCa, issueServer } from '../../src/certs/issue.js'
import { withIssuers } from '../../src/listeners/tls-context.js'
import { run } from '../certs/pki.js'
import { OPENSSL, pkiDir, sslOptions, startTlsBroker, writeFiles } from './tls-helpers.js'

const root = await createCa({ cn: 'Chain Root', key: 'ec256' })
const intermediate = await createCa({ cn: 'Chain Intermediate', key: 'ec256', issuer: root })
const server = await issueServer({ ca: intermediate, cn: 'localhost', sans: ['localhost', '127.0.0.1'], key: 'ec256' })
const other = await createCa({ cn: 'Unrelated CA', key: 'ec256' })

const subjects = (pem: Buffer | string): string[] =>
  (pem.toString().match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map((p) => new X509Certificate(p).subject)

t.test('the issuers follow the server certificate, up to the root, in order', async (t) => {
  const ca = Buffer.from(other.certPem + root.certPem + intermediate.certPem)
  t.same(subjects(withIssuers(Buffer.from(server.certPem), ca)), ['CN=localhost', 'CN=Chain Intermediate', 'CN=Chain Root'])
})

t.test('as it is: a certfile with its chain, an issuer not in the CA file, no CA file, a self-signed certificate', async (t) => {
  const chained = Buffer.from(server.certPem + intermediate.certPem)
  t.equal(withIssuers(chained, Buffer.from(root.certPem)), chained, 'a certfile that holds a chain')
  const alone = Buffer.from(server.certPem)
  t.equal(withIssuers(alone, Buffer.from(other.certPem)), alone, 'the issuer is not in the CA file')
  t.equal(withIssuers(alone, undefined), alone, 'no CA file')
  const selfSigned = Buffer.from(root.certPem)
  t.equal(withIssuers(selfSigned, Buffer.from(root.certPem + intermediate.certPem)), selfSigned, 'a self-signed certificate')
  t.same(subjects(withIssuers(alone, Buffer.from(intermediate.certPem))), ['CN=localhost', 'CN=Chain Intermediate'], 'a chain stops where the CA file does')
})

t.test('an ssl listener sends the chain OpenSSL would have built', { skip: !existsSync(OPENSSL) && 'openssl not installed' }, async (t) => {
  const dir = await pkiDir(t)
  const files = await writeFiles(dir, { 'ca.pem': root.certPem + intermediate.certPem, 'server.pem': server.certPem, 'server.key': server.keyPem })
  const b = await startTlsBroker(t, sslOptions({ files } as unknown as Parameters<typeof sslOptions>[0]))
  const shown = await run(OPENSSL, ['s_client', '-connect', `127.0.0.1:${b.sslPort}`, '-servername', 'localhost', '-showcerts', '-CAfile', files['ca.pem']!])
  const sent = [...shown.stdout.matchAll(/^ (\d) s:(.*)$/gm)].map((m) => m[2]!.trim())
  t.same(sent, ['CN = localhost', 'CN = Chain Intermediate', 'CN = Chain Root'], 'server certificate, intermediate, root')
  t.match(shown.stdout, /Verify return code: 0 \(ok\)/, 'and it verifies')
})
