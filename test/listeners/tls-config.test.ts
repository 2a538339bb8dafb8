// TLS listener configuration: an encrypted server key with its password, and the start-up errors that
// name the listener, the ssl_options key and the file at fault.
import t from 'tap'
import { issueServer } from '../../src/certs/index.js'
import { createBroker } from '../../src/index.js'
import { collect, end, memoryLog } from '../helpers.js'
import { basePki, handshake, mqttTry, pkiDir, sslOptions, startTlsBroker, writeFiles } from './tls-helpers.js'

const dir = await pkiDir(t)
const pki = await basePki(dir)
const encrypted = await issueServer({ ca: pki.ca, cn: 'localhost', sans: ['localhost', '127.0.0.1'], keyPassword: 'right horse' })
const files = await writeFiles(dir, {
  'enc-server.pem': encrypted.certPem,
  'enc-server.key': encrypted.keyPem,
  'garbage.pem': 'not a certificate\n',
})

/** createBroker with one listener of that type on 127.0.0.1:0 and these ssl_options. */
function brokerWith (type: 'ssl' | 'wss', ssl: Record<string, unknown>) {
  return createBroker({
    logger: memoryLog().log,
    config: { listeners: { tcp: { default: { bind: '127.0.0.1:0' } }, [type]: { default: { bind: '127.0.0.1:0', ssl_options: ssl } } } },
  })
}

t.test('an encrypted server key with the right password: clients connect and exchange messages', async (t) => {
  t.match(encrypted.keyPem, /BEGIN ENCRYPTED PRIVATE KEY/, 'the key file is encrypted')
  const b = await startTlsBroker(t, sslOptions(pki, { certfile: files['enc-server.pem'], keyfile: files['enc-server.key'], password: 'right horse' }))
  const h = await handshake(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', rejectUnauthorized: true })
  t.equal(h.authorizationError, null, 'the server certificate verifies')
  const conn = await mqttTry(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', clientId: 'enc' }, t)
  t.ok(conn.client, 'MQTT.js connects')
  if (!conn.client) return
  const got = collect(conn.client)
  await conn.client.subscribeAsync('tls/enc', { qos: 1 })
  await conn.client.publishAsync('tls/enc', 'sealed', { qos: 1 })
  t.equal((await got.waitFor(1))[0]!.payload.toString(), 'sealed')
  await end(conn.client)
})

t.test('a wrong or missing password stops createBroker naming ssl_options.password and the key file', async (t) => {
  const keyfile = files['enc-server.key']!
  const base = sslOptions(pki, { certfile: files['enc-server.pem'], keyfile })
  const escaped = keyfile.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  await t.rejects(brokerWith('ssl', { ...base, password: 'wrong horse' }), {
    code: 'CULEX_ERR_TLS_CONFIG',
    message: new RegExp(`listener ssl:default: ssl_options\\.password: cannot decrypt ${escaped}`),
  })
  await t.rejects(brokerWith('wss', base), {
    code: 'CULEX_ERR_TLS_CONFIG',
    message: new RegExp(`listener wss:default: ssl_options\\.password: cannot decrypt ${escaped}`),
  }, 'no password at all, on a wss listener')
})

t.test('a missing certfile stops createBroker naming the listener, ssl_options.certfile, the path and the command that makes it', async (t) => {
  const missing = `${dir}/absent.pem`
  await t.rejects(brokerWith('ssl', sslOptions(pki, { certfile: missing })), {
    code: 'CULEX_ERR_TLS_CONFIG',
    message: `listener ssl:default: ssl_options.certfile ${missing}: ENOENT, no such file; make a development CA and server certificate with: npx culex certs init --dir ${dir} (then point certfile, keyfile and cacertfile at server.pem, server.key and ca.pem there), or one server certificate with: npx culex certs server --ca CA.pem --ca-key CA.key --cn HOST --san HOST --out ${dir}/absent`,
  })
  await t.rejects(brokerWith('wss', sslOptions(pki, { keyfile: `${dir}/absent.key` })), {
    code: 'CULEX_ERR_TLS_CONFIG',
    message: /listener wss:default: ssl_options\.keyfile .*absent\.key: ENOENT, no such file; it is written beside the certificate by npx culex certs init/,
  })
  await t.rejects(brokerWith('ssl', sslOptions(pki, { certfile: files['garbage.pem'] })), {
    code: 'CULEX_ERR_TLS_CONFIG',
    message: /listener ssl:default: ssl_options\.certfile: .*garbage\.pem holds no readable PEM certificate/,
  })
  await t.rejects(brokerWith('ssl', sslOptions(pki, { verify: 'verify_peer', cacertfile: `${dir}/no-ca.pem` })), {
    code: 'CULEX_ERR_TLS_CONFIG',
    message: /ssl_options\.cacertfile .*no-ca\.pem: ENOENT, no such file; make a CA with: npx culex certs ca --cn "My CA" --out .*no-ca$/,
  }, 'two-way TLS needs its cacertfile')
})

t.test('an unknown cipher name stops createBroker naming ssl_options.ciphers', async (t) => {
  await t.rejects(brokerWith('ssl', sslOptions(pki, { ciphers: ['TLS_NO_SUCH_SUITE'] })), {
    code: 'CULEX_ERR_TLS_CONFIG',
    message: 'listener ssl:default: ssl_options.ciphers: unknown cipher suite TLS_NO_SUCH_SUITE',
  })
  await t.rejects(brokerWith('ssl', sslOptions(pki, { versions: ['tlsv1.2'], ciphers: ['NO-SUCH-CIPHER'] })), {
    code: 'CULEX_ERR_TLS_CONFIG',
    message: /listener ssl:default: ssl_options\.ciphers: no usable cipher suite in \[NO-SUCH-CIPHER\]/,
  })
})

t.test('a key that is not the certificate\'s stops start-up with "keyfile does not match certfile", whatever the key types', async (t) => {
  const rsa = await issueServer({ ca: pki.ca, cn: 'localhost', sans: ['localhost'], key: 'rsa2048' })
  const otherEc = await issueServer({ ca: pki.ca, cn: 'localhost', sans: ['localhost'], key: 'ec256' })
  const more = await writeFiles(dir, { 'rsa.key': rsa.keyPem, 'other-ec.key': otherEc.keyPem })
  const ecCert = pki.files['server.pem']!
  await t.rejects(brokerWith('ssl', sslOptions(pki, { keyfile: more['rsa.key'] })), {
    code: 'CULEX_ERR_TLS_CONFIG',
    message: `listener ssl:default: ssl_options.keyfile: keyfile does not match certfile: ${more['rsa.key']} (RSA 2048 key) is not the key of the certificate in ${ecCert} (EC P-256)`,
  }, 'an RSA key with an EC certificate')
  await t.rejects(brokerWith('ssl', sslOptions(pki, { keyfile: more['other-ec.key'] })), {
    code: 'CULEX_ERR_TLS_CONFIG',
    message: /ssl_options\.keyfile: keyfile does not match certfile: .*other-ec\.key/,
  }, 'another EC key')
})
