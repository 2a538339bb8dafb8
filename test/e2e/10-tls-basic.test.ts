// TLS listeners as users meet them: one-way TLS with mosquitto and MQTT.js (mqtts and wss), two-way TLS
// with the certificate as user name or client id, the hostname check on the client side, and client
// certificates made with the seeds' own openssl commands.
import { createHash, X509Certificate } from 'node:crypto'
import t from 'tap'
import { issueServer } from '../../src/certs/index.js'
import type { ClientInfo } from '../../src/mqtt/hooks.js'
import { collect, end } from '../helpers.js'
import {
  basePki, failureFrom, hasMosquitto, mosquittoSub, mqttTry, MOSQUITTO_PUB, OPENSSL, pkiDir, run, sslOptions,
  startTlsBroker, waitForLog, waitSubscribed, writeFiles,
} from '../listeners/tls-helpers.js'

const dir = await pkiDir(t)
const pki = await basePki(dir)
const { files } = pki
const twoWay = sslOptions(pki, { verify: 'verify_peer', fail_if_no_peer_cert: true })
const noMosquitto = hasMosquitto ? false : 'mosquitto_pub/mosquitto_sub not installed'

/** Records every client the broker accepted. */
function connectedClients (b: { broker: { addHook: (name: 'clientConnected', fn: (c: ClientInfo) => void) => unknown } }): ClientInfo[] {
  const seen: ClientInfo[] = []
  b.broker.addHook('clientConnected', (c) => seen.push(c))
  return seen
}

t.test('one-way TLS: mosquitto_sub and mosquitto_pub with --cafile exchange a message', { skip: noMosquitto }, async (t) => {
  const b = await startTlsBroker(t, sslOptions(pki))
  const clients = connectedClients(b)
  const common = ['-h', '127.0.0.1', '-p', String(b.sslPort), '--cafile', files['ca.pem']!, '-t', 'tls/one', '-q', '1']
  const sub = mosquittoSub([...common, '-i', 'mosq-sub'])
  await waitSubscribed(b, 'mosq-sub', 'tls/one')
  const pub = await run(MOSQUITTO_PUB, [...common, '-i', 'mosq-pub', '-m', 'over tls'])
  t.equal(pub.code, 0, `mosquitto_pub exits 0 (${pub.stderr})`)
  const got = await sub
  t.equal(got.code, 0, 'mosquitto_sub got its message and exited 0')
  t.match(got.stdout, /^over tls$/m, 'the payload arrived')
  t.same(clients.map((c) => [c.clientId, c.listener]).sort(), [['mosq-pub', 'ssl:default'], ['mosq-sub', 'ssl:default']])
  t.match(clients[0]!.tls, { version: /^TLSv1\.[23]$/, cipher: /.+/ }, 'the broker knows the TLS version and cipher')
  t.equal(clients[0]!.cert, undefined, 'no client certificate on a verify_none listener')
  t.ok(b.broker.core.metrics.tlsHandshakes >= 2, 'handshakes counted')
  t.same(b.broker.core.metrics.tlsFailures, {}, 'no failure counted')
  await waitForLog(b.logs, (l) => l.msg === 'client connected' && /^mosq-sub@127\.0\.0\.1:\d+ on ssl:default$/.test(String(l.client)))
})

t.test('one-way TLS: MQTT.js mqtts:// and wss:// with ca exchange messages', async (t) => {
  const b = await startTlsBroker(t, sslOptions(pki), { wss: sslOptions(pki) })
  const clients = connectedClients(b)
  const mqtts = await mqttTry(b.sslPort, { protocol: 'mqtts', ca: pki.ca.certPem, servername: 'localhost', clientId: 'js-mqtts', protocolVersion: 5 }, t)
  t.ok(mqtts.client, `mqtts connected ${mqtts.error?.message ?? ''}`)
  const wss = await mqttTry(b.wssPort, { protocol: 'wss', path: '/mqtt', hostname: 'localhost', host: 'localhost', ca: pki.ca.certPem, clientId: 'js-wss' }, t)
  t.ok(wss.client, `wss connected ${wss.error?.message ?? ''}`)
  if (!mqtts.client || !wss.client) return

  const fromWss = collect(mqtts.client)
  const fromMqtts = collect(wss.client)
  await mqtts.client.subscribeAsync('tls/js', { qos: 1 })
  await wss.client.subscribeAsync('tls/js', { qos: 1 })
  await wss.client.publishAsync('tls/js', 'from wss', { qos: 1 })
  await mqtts.client.publishAsync('tls/js', 'from mqtts', { qos: 1 })
  t.same((await fromWss.waitFor(2)).map((m) => m.payload.toString()).sort(), ['from mqtts', 'from wss'])
  t.same((await fromMqtts.waitFor(2)).map((m) => m.payload.toString()).sort(), ['from mqtts', 'from wss'])

  const byId = Object.fromEntries(clients.map((c) => [c.clientId, c]))
  t.equal(byId['js-mqtts']?.listener, 'ssl:default')
  t.match(byId['js-mqtts']?.tls, { version: 'TLSv1.3', sni: 'localhost', peerCert: undefined })
  t.equal(byId['js-wss']?.listener, 'wss:default')
  t.match(byId['js-wss']?.tls, { version: 'TLSv1.3', cipher: /.+/, sni: 'localhost' }, 'wss connections carry their TLS facts too')
  await end(mqtts.client)
  await end(wss.client)
})

t.test('two-way TLS: mosquitto with --cert/--key; peer_cert_as_username = cn', { skip: noMosquitto }, async (t) => {
  const b = await startTlsBroker(t, twoWay, { config: { mqtt: { peer_cert_as_username: 'cn' } } })
  const auth: { username: string | undefined, cn: string | undefined }[] = []
  b.broker.addHook('authenticate', (client, credentials) => {
    auth.push({ username: credentials.username, cn: client.cert?.cn })
    return { result: 'ok' }
  })
  const common = ['-h', '127.0.0.1', '-p', String(b.sslPort), '--cafile', files['ca.pem']!, '--cert', files['client.pem']!, '--key', files['client.key']!, '-t', 'tls/two', '-q', '1']
  const sub = mosquittoSub([...common, '-u', 'ignored-user', '-i', 'mtls-sub'])
  await waitSubscribed(b, 'mtls-sub', 'tls/two')
  const pub = await run(MOSQUITTO_PUB, [...common, '-m', 'mutual'])
  t.equal(pub.code, 0, `mosquitto_pub exits 0 (${pub.stderr})`)
  t.match((await sub).stdout, /^mutual$/m)
  t.same(auth, [{ username: 'client', cn: 'client' }, { username: 'client', cn: 'client' }], 'the CN is the user name, whatever the client sent')

  // Without --cert the same listener refuses the handshake.
  const bare = await run(MOSQUITTO_PUB, ['-h', '127.0.0.1', '-p', String(b.sslPort), '--cafile', files['ca.pem']!, '-t', 'tls/two', '-m', 'x'])
  t.not(bare.code, 0, 'mosquitto_pub without a certificate fails')
  const line = await waitForLog(b.logs, (l) => l.reason === 'no_peer_cert')
  t.match(line, { listener: 'ssl:default', peer: /^127\.0\.0\.1:\d+$/, msg: /sent no certificate.*fail_if_no_peer_cert/ })
  t.equal(b.broker.core.metrics.tlsFailures.no_peer_cert, 1)
})

t.test('two-way TLS with MQTT.js cert/key: peer_cert_as_clientid = cn, dn and md5 variants', async (t) => {
  const md5 = createHash('md5').update(new X509Certificate(pki.client.certPem).toString()).digest('hex')
  const cases = [
    { config: { peer_cert_as_clientid: 'cn' }, clientId: 'client', username: 'u' },
    { config: { peer_cert_as_username: 'dn' }, clientId: 'sent-id', username: 'CN=client' },
    { config: { peer_cert_as_username: 'md5', peer_cert_as_clientid: 'md5' }, clientId: md5, username: md5 },
  ]
  for (const c of cases) {
    const b = await startTlsBroker(t, twoWay, { config: { mqtt: c.config } })
    const clients = connectedClients(b)
    const conn = await mqttTry(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', cert: pki.client.certPem, key: pki.client.keyPem, clientId: 'sent-id', username: 'u' }, t)
    t.ok(conn.client, `${JSON.stringify(c.config)}: connected`)
    t.match(clients[0], { clientId: c.clientId, username: c.username, cert: { cn: 'client', subject: 'CN=client', issuer: 'CN=Culex Test CA' } }, JSON.stringify(c.config))
    t.equal(clients[0]?.cert?.fingerprint, new X509Certificate(pki.client.certPem).fingerprint256, 'client.cert.fingerprint is the SHA-256 of the certificate')
    const got = collect(conn.client!)
    await conn.client!.subscribeAsync('tls/mtls', { qos: 1 })
    await conn.client!.publishAsync('tls/mtls', 'echo', { qos: 1 })
    t.equal((await got.waitFor(1))[0]!.payload.toString(), 'echo', 'messages flow')
    await end(conn.client!)
    await b.close()
  }
})

t.test('hostname check: a localhost-only certificate fails for 127.0.0.1 or servername other.example; insecure connects', async (t) => {
  const only = await issueServer({ ca: pki.ca, cn: 'localhost', sans: ['localhost'] })
  const paths = await writeFiles(dir, { 'localhost-only.pem': only.certPem, 'localhost-only.key': only.keyPem })
  const b = await startTlsBroker(t, sslOptions(pki, { certfile: paths['localhost-only.pem'], keyfile: paths['localhost-only.key'] }))
  const clients = connectedClients(b)

  const byIp = await mqttTry(b.sslPort, { ca: pki.ca.certPem, clientId: 'by-ip' }, t)
  t.equal(byIp.error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID', 'IP 127.0.0.1 is not in the certificate')
  t.match(byIp.error?.message, /IP: 127\.0\.0\.1 is not in the cert's list/)
  const otherName = await mqttTry(b.sslPort, { ca: pki.ca.certPem, servername: 'other.example', clientId: 'other-name' }, t)
  t.equal(otherName.error?.code, 'ERR_TLS_CERT_ALTNAME_INVALID', 'other.example is not in the certificate')
  t.match(otherName.error?.message, /Host: other\.example\. is not in the cert's altnames: DNS:localhost/)
  const right = await mqttTry(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', clientId: 'right-name' }, t)
  t.ok(right.client, 'servername localhost verifies')
  const insecure = await mqttTry(b.sslPort, { rejectUnauthorized: false, servername: 'other.example', clientId: 'insecure' }, t)
  t.ok(insecure.client, 'rejectUnauthorized: false connects anyway')
  t.same(clients.map((c) => c.clientId).sort(), ['insecure', 'right-name'], 'the refused clients never sent CONNECT')
  t.match(clients.find((c) => c.clientId === 'insecure')?.tls, { sni: 'other.example' }, 'the broker saw the SNI the client asked for')
  // Node checks the name once its side of the handshake is done and drops the socket before its Finished
  // is sent: the broker sees a client hanging up mid-handshake, and says the client may distrust its certificate.
  const ipLine = await waitForLog(b.logs, (l) => l.reason === 'connection_reset' && l.sni === '')
  t.match(ipLine, { listener: 'ssl:default', peer: /^127\.0\.0\.1:\d+$/, msg: /closed the connection during the handshake.*not trust the server certificate/ })
  await waitForLog(b.logs, (l) => l.reason === 'connection_reset' && l.sni === 'other.example')
  t.same(b.broker.core.metrics.tlsFailures, { connection_reset: 2 }, 'the two refusals counted')
})

t.test("seed 002's openssl commands: client CA and client certificate for two-way TLS with mosquitto_pub", { skip: noMosquitto }, async (t) => {
  const work = t.testdir({})
  const steps = [
    ['req', '-new', '-newkey', 'rsa:2048', '-days', '365', '-nodes', '-x509', '-subj', '/C=US/O=Test Org/CN=Test CA', '-keyout', 'client-ca.key', '-out', 'client-ca.crt'],
    ['genrsa', '-out', 'client.key', '2048'],
    ['req', '-new', '-key', 'client.key', '-out', 'client.csr', '-subj', '/CN=Client'],
    ['x509', '-req', '-days', '365', '-sha256', '-in', 'client.csr', '-CA', 'client-ca.crt', '-CAkey', 'client-ca.key', '-CAcreateserial', '-out', 'client.crt'],
  ]
  for (const args of steps) {
    const r = await run(OPENSSL, args, { cwd: work })
    t.equal(r.code, 0, `openssl ${args.slice(0, 2).join(' ')} (${r.stderr.trim().split('\n').pop() ?? ''})`)
  }
  const b = await startTlsBroker(t, sslOptions(pki, { cacertfile: `${work}/client-ca.crt`, verify: 'verify_peer', fail_if_no_peer_cert: true }), { config: { mqtt: { peer_cert_as_username: 'cn' } } })
  const seen: ClientInfo[] = []
  b.broker.addHook('authenticate', (client) => { seen.push(client); return { result: 'ok' } })
  const base = ['-h', '127.0.0.1', '-p', String(b.sslPort), '--cafile', files['ca.pem']!, '-t', 'tls/seed', '-m', 'seed 002', '-q', '1']
  const pub = await run(MOSQUITTO_PUB, [...base, '--cert', `${work}/client.crt`, '--key', `${work}/client.key`, '-i', 'seed-client'])
  t.equal(pub.code, 0, `accepted (${pub.stderr.trim()})`)
  t.match(seen[0], { clientId: 'seed-client', username: 'Client', cert: { cn: 'Client', subject: 'CN=Client', issuer: 'C=US,O=Test Org,CN=Test CA' } })

  // Our own client certificate is from another CA: this listener trusts only the seed's client CA.
  const stranger = await run(MOSQUITTO_PUB, [...base, '--cert', files['client.pem']!, '--key', files['client.key']!, '-i', 'stranger'])
  t.not(stranger.code, 0, 'a certificate from another CA is refused')
  const line = await waitForLog(b.logs, (l) => l.reason === 'unknown_ca')
  t.match(line, { listener: 'ssl:default', msg: /TLS handshake failed: the client certificate .*not in ssl_options\.cacertfile/ })
  t.equal(seen.length, 1, 'the stranger never reached authentication')
})

t.test('a refused handshake is logged with the client address and port, and its SNI', async (t) => {
  const b = await startTlsBroker(t, twoWay)
  const attempt = await mqttTry(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost' }, t)
  t.notOk(attempt.client, 'no certificate: not connected')
  t.ok(attempt.localPort > 0, 'the client port is known')
  const line = await failureFrom(b, attempt.localPort)
  t.match(line, { listener: 'ssl:default', sni: 'localhost', reason: 'no_peer_cert', level: 40 })
})
