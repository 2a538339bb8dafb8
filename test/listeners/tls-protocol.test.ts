// TLS protocol settings of the ssl and wss listeners: versions, cipher suites, what arrives when a client
// does not speak TLS (or stalls mid-handshake), and session resumption.
import { constants } from 'node:crypto'
import t from 'tap'
import WebSocket from 'ws'
import type { ClientInfo } from '../../src/mqtt/hooks.js'
import { end, rawMqtt, rawSocket, within } from '../helpers.js'
import { basePki, failureFrom, handshake, mqttTry, pkiDir, sslOptions, startTlsBroker, waitForLog } from './tls-helpers.js'

const dir = await pkiDir(t)
const pki = await basePki(dir)
const trusted = { ca: pki.ca.certPem, servername: 'localhost', rejectUnauthorized: true }
const TLS11 = { ...trusted, minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' } as const

t.test('TLS 1.1 is refused by default (version_mismatch) and accepted when versions lists it', async (t) => {
  const strict = await startTlsBroker(t, sslOptions(pki))
  const old = await handshake(strict.sslPort, TLS11)
  t.notOk(old.secure, 'no handshake')
  t.match(old.error, /protocol version|unsupported protocol/i, 'the client is told the version is not supported')
  t.match(await failureFrom(strict, old.localPort), {
    // OpenSSL refuses the version before it reads the SNI extension: sni stays ''.
    listener: 'ssl:default', sni: '', reason: 'version_mismatch', msg: /offers no TLS version that ssl_options\.versions allows/,
  })
  t.same(strict.broker.core.metrics.tlsFailures, { version_mismatch: 1 })

  const legacy = await startTlsBroker(t, sslOptions(pki, { versions: ['tlsv1.2', 'tlsv1.1'] }))
  const clients: ClientInfo[] = []
  legacy.broker.addHook('clientConnected', (c) => clients.push(c))
  const ok = await handshake(legacy.sslPort, TLS11)
  t.equal(ok.protocol, 'TLSv1.1', 'TLS 1.1 negotiated')
  t.notOk(ok.closedAfterHandshake, 'and kept open')
  const mqtts = await mqttTry(legacy.sslPort, { ...TLS11, clientId: 'old-client' }, t)
  t.ok(mqtts.client, `MQTT over TLS 1.1 connects (${mqtts.error?.message ?? 'ok'})`)
  t.equal(clients[0]?.tls?.version, 'TLSv1.1', 'the broker reports TLSv1.1 to hooks')
  if (mqtts.client) await end(mqtts.client)
  const modern = await handshake(legacy.sslPort, trusted)
  t.equal(modern.protocol, 'TLSv1.2', 'a modern client gets the highest listed version')
  t.same(legacy.broker.core.metrics.tlsFailures, {})
})

t.test('a TLS 1.3-only listener refuses a TLS 1.2-only client', async (t) => {
  const b = await startTlsBroker(t, sslOptions(pki, { versions: ['tlsv1.3'] }))
  const tls12 = await handshake(b.sslPort, { ...trusted, maxVersion: 'TLSv1.2' })
  t.notOk(tls12.secure)
  t.match(tls12.error, /protocol version|unsupported protocol/i)
  t.match(await failureFrom(b, tls12.localPort), { reason: 'version_mismatch', msg: /ssl_options\.versions/ })
  const tls13 = await handshake(b.sslPort, trusted)
  t.equal(tls13.protocol, 'TLSv1.3')
})

t.test('ciphers: the listed suite is negotiated (OpenSSL and IANA names); a client without it is refused', async (t) => {
  for (const name of ['ECDHE-ECDSA-AES128-GCM-SHA256', 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256']) {
    const b = await startTlsBroker(t, sslOptions(pki, { versions: ['tlsv1.2'], ciphers: [name] }))
    const clients: ClientInfo[] = []
    b.broker.addHook('clientConnected', (c) => clients.push(c))
    const h = await handshake(b.sslPort, trusted)
    t.match(h, { protocol: 'TLSv1.2', cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256' }, `${name}: negotiated`)
    const mqtts = await mqttTry(b.sslPort, { ...trusted, clientId: 'cipher-client' }, t)
    t.ok(mqtts.client, `${name}: MQTT.js connects`)
    t.equal((mqtts.client?.stream as unknown as { getCipher (): { name: string } } | undefined)?.getCipher().name, 'ECDHE-ECDSA-AES128-GCM-SHA256', `${name}: MQTT.js sees the suite`)
    t.equal(clients[0]?.tls?.cipher, 'ECDHE-ECDSA-AES128-GCM-SHA256', `${name}: client.tls.cipher on the broker`)
    if (mqtts.client) await end(mqtts.client)

    const other = await handshake(b.sslPort, { ...trusted, ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305' })
    t.notOk(other.secure, `${name}: a client offering only other suites gets no handshake`)
    t.match(other.error, /handshake failure/i)
    t.match(await failureFrom(b, other.localPort), { reason: 'cipher_mismatch', msg: /offers no cipher suite that ssl_options\.ciphers allows/ }, `${name}: logged as cipher_mismatch`)
    t.equal(b.broker.core.metrics.tlsFailures.cipher_mismatch, 1)
    await b.close()
  }
})

t.test('plain MQTT to the ssl port is closed and logged as not_tls', async (t) => {
  const b = await startTlsBroker(t, sslOptions(pki))
  const raw = await rawMqtt(b.sslPort, 4)
  const localPort = raw.socket.localPort!
  raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'plain' })
  t.ok(await within(3000, raw.closed), 'the broker closes the connection')
  t.same(raw.packets, [], 'no CONNACK')
  t.match(await failureFrom(b, localPort), {
    listener: 'ssl:default', reason: 'not_tls', msg: /did not start a TLS handshake \(plain MQTT, or other data that is not TLS, sent to a TLS port\): use the tcp port/,
  })
  t.same(b.broker.core.metrics.tlsFailures, { not_tls: 1 })
})

t.test('plain ws:// to the wss port is closed and logged as plain HTTP (not_tls)', async (t) => {
  const b = await startTlsBroker(t, sslOptions(pki), { wss: sslOptions(pki) })
  const ws = new WebSocket(`ws://127.0.0.1:${b.wssPort}/mqtt`, 'mqtt')
  const failed = new Promise<string>((resolve) => {
    ws.once('error', (err) => resolve(err.message))
    ws.once('open', () => resolve('open'))
  })
  t.not(await failed, 'open', 'the WebSocket does not open')
  const line = await waitForLog(b.logs, (l) => l.reason === 'not_tls')
  t.match(line, { listener: 'wss:default', peer: /^127\.0\.0\.1:\d+$/, reason: 'not_tls', msg: /plain HTTP to a TLS port/ })
  t.same(b.broker.core.metrics.tlsFailures, { not_tls: 1 })
})

t.test('handshake_timeout: a client that sends one 0x16 byte, or nothing, is closed and logged', async (t) => {
  const b = await startTlsBroker(t, sslOptions(pki, { handshake_timeout: '500ms' }))
  const stalled = await rawSocket(b.sslPort)
  const stalledPort = stalled.socket.localPort!
  stalled.socket.write(Buffer.from([0x16]))
  t.ok(await within(3000, stalled.closed), 'closed after the timeout')
  t.match(await failureFrom(b, stalledPort), {
    listener: 'ssl:default', reason: 'handshake_timeout', msg: /did not finish the TLS handshake within ssl_options\.handshake_timeout/,
  })
  const silent = await rawSocket(b.sslPort)
  const silentPort = silent.socket.localPort!
  t.ok(await within(3000, silent.closed), 'a silent client is closed too')
  t.match(await failureFrom(b, silentPort), { reason: 'handshake_timeout', msg: /sent nothing within ssl_options\.handshake_timeout/ })
  t.same(b.broker.core.metrics.tlsFailures, { handshake_timeout: 2 })
})

t.test('reuse_sessions: a TLS 1.2 client without tickets resumes by session id where versions leave out TLS 1.3', async (t) => {
  // SSL_OP_NO_TICKET on the client: it offers no session ticket extension, so only the server's session-id cache can resume it.
  const noTickets = { ...trusted, maxVersion: 'TLSv1.2' as const, secureOptions: constants.SSL_OP_NO_TICKET }
  for (const versions of [['tlsv1.2'], ['tlsv1.3', 'tlsv1.2']]) {
    const b = await startTlsBroker(t, sslOptions(pki, { versions }))
    const first = await handshake(b.sslPort, noTickets, 50)
    t.ok(first.session, `versions ${versions.join(',')}: the client got a session`)
    const second = await handshake(b.sslPort, { ...noTickets, session: first.session! }, 50)
    t.ok(second.secure, 'second handshake done')
    // With TLS 1.3 on, the cache is off: it would cost every handshake (BENCHMARKS.md); tickets resume instead.
    t.equal(second.reused, versions.length === 1, `versions ${versions.join(',')}: resumed by session id: ${versions.length === 1}`)
    await b.close()
  }
})

t.test('reuse_sessions: a second connection with the first one\'s session resumes; off, it does not', async (t) => {
  for (const reuse of [true, false]) {
    const b = await startTlsBroker(t, sslOptions(pki, { reuse_sessions: reuse }))
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      const first = await handshake(b.sslPort, { ...trusted, maxVersion }, 50)
      t.equal(first.reused, false, `${maxVersion}: a first connection is a full handshake`)
      if (reuse) t.ok(first.session, `${maxVersion}: the client got a session to resume`)
      if (!first.session) continue
      const second = await handshake(b.sslPort, { ...trusted, maxVersion, session: first.session }, 50)
      t.ok(second.secure, `${maxVersion}: second handshake done`)
      t.equal(second.reused, reuse, `reuse_sessions = ${reuse}, ${maxVersion}: isSessionReused() is ${reuse}`)
    }
    await b.close()
  }
})
