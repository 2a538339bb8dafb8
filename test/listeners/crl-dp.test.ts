// ssl_options.enable_crl_check: CRLs fetched from the client certificates' CRL distribution points
// (a local HTTP server), cached by URL, refreshed on crl_cache.refresh_interval; revoked certificates refused.
import { createPrivateKey, webcrypto } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { createCa, issueClient, issueServer, type Issued } from '../../src/certs/index.js'
import { x509 } from '../../src/certs/x509.js'
import { Broker } from '../../src/index.js'
import { freePort, memoryLog, until } from '../helpers.js'
import { basePki, failureFrom, handshake, mqttTry, pkiDir, sslOptions, startTlsBroker, waitForLog, writeFiles, type BasePki } from './tls-helpers.js'

type Teardown = { teardown: (fn: () => unknown) => void }

/** A CRL signed by the (EC P-256) CA revoking the given serial numbers; DER unless `pem`. */
async function signCrl (ca: Issued, revoked: string[], opts: { pem?: boolean, nextUpdate?: Date } = {}): Promise<Buffer> {
  const der = createPrivateKey(ca.keyPem).export({ type: 'pkcs8', format: 'der' })
  const signingKey = await webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
  const issued = await x509.X509CrlGenerator.create({
    issuer: new x509.X509Certificate(ca.certPem).subject,
    thisUpdate: new Date(Date.now() - 60_000),
    nextUpdate: opts.nextUpdate ?? new Date(Date.now() + 86_400_000),
    entries: revoked.map((serialNumber) => ({ serialNumber, revocationDate: new Date(Date.now() - 60_000) })),
    signingKey,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  })
  return opts.pem ? Buffer.from(x509.PemConverter.encode(issued.rawData, 'X509 CRL')) : Buffer.from(issued.rawData)
}

/** An HTTP server on 127.0.0.1 serving path → body, counting the requests of each path. */
async function crlServer (t: Teardown): Promise<{ url: (path: string) => string, bodies: Map<string, Buffer>, fetches: Map<string, number>, stop: () => Promise<void> }> {
  const bodies = new Map<string, Buffer>()
  const fetches = new Map<string, number>()
  const server: Server = createServer((req, res) => {
    const path = req.url ?? ''
    fetches.set(path, (fetches.get(path) ?? 0) + 1)
    const body = bodies.get(path)
    res.writeHead(body ? 200 : 404, { 'content-type': 'application/pkix-crl' }).end(body ?? '')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  let stopped = false
  const stop = async () => {
    if (stopped) return
    stopped = true
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  t.teardown(stop)
  return { url: (path) => `http://127.0.0.1:${port}${path}`, bodies, fetches, stop }
}

/** A client certificate whose CRL distribution point is `url`; returns it with its serial number. */
async function clientWithDp (pki: BasePki, cn: string, url: string): Promise<Issued & { serial: string }> {
  const issued = await issueClient({ ca: pki.ca, cn, extensions: [new x509.CRLDistributionPointsExtension([url])] })
  return { ...issued, serial: new x509.X509Certificate(issued.certPem).serialNumber }
}

const CHECKED = { verify: 'verify_peer', fail_if_no_peer_cert: true, enable_crl_check: true }

const dir = await pkiDir(t)
const pki = await basePki(dir)

t.test('good certificates connect, a revoked one is refused, the CRL is fetched once', async (t) => {
  const http = await crlServer(t)
  const url = http.url('/ca.crl')
  const good = await clientWithDp(pki, 'good-device', url)
  const revoked = await clientWithDp(pki, 'revoked-device', url)
  http.bodies.set('/ca.crl', await signCrl(pki.ca, [revoked.serial]))
  const b = await startTlsBroker(t, sslOptions(pki, CHECKED))
  const tls = { ca: pki.ca.certPem, servername: 'localhost' }

  // Both first uses at once: they share one request.
  const [ok, bad] = await Promise.all([
    mqttTry(b.sslPort, { ...tls, cert: good.certPem, key: good.keyPem, clientId: 'good' }, t),
    // Held until the broker closes it: the first use waits for the CRL fetch.
    handshake(b.sslPort, { ...tls, cert: revoked.certPem, key: revoked.keyPem }, 3000),
  ])
  t.ok(ok.client?.connected, 'a certificate not in the CRL gets its CONNACK')
  t.ok(bad.closedAfterHandshake || bad.error, 'the revoked certificate is refused')
  const line = await failureFrom(b, bad.localPort)
  t.match(line, { listener: 'ssl:default', reason: 'cert_revoked', msg: /revoked/ })
  t.match(String(line.msg), new RegExp(`${revoked.serial.toUpperCase()}.*${url.replace(/\./g, '\\.')}`, 'i'), 'the detail names the serial and the CRL URL')
  t.equal(b.broker.core.metrics.tlsFailures.cert_revoked, 1, 'counted under cert_revoked')
  t.equal(http.fetches.get('/ca.crl'), 1, 'concurrent first uses share one fetch')
  t.match(await waitForLog(b.logs, (l) => l.msg === 'CRL fetched'), { url, revoked: 1 }, 'the fetch is logged with its URL and revoked count')

  const again = await mqttTry(b.sslPort, { ...tls, cert: good.certPem, key: good.keyPem, clientId: 'good-again' }, t)
  t.ok(again.client?.connected, 'the good certificate connects again')
  t.equal(http.fetches.get('/ca.crl'), 1, 'the second connection uses the cached CRL')

  const plain = await mqttTry(b.sslPort, { ...tls, cert: pki.client.certPem, key: pki.client.keyPem, clientId: 'no-dp' }, t)
  t.ok(plain.client?.connected, 'a certificate without a distribution point connects: the cached CRL of its issuer covers it')
})

t.test('with the CRL server gone, the cached CRL stays in force and the failed refresh is logged', async (t) => {
  const http = await crlServer(t)
  const url = http.url('/pem.crl')
  const good = await clientWithDp(pki, 'good-offline', url)
  const revoked = await clientWithDp(pki, 'revoked-offline', url)
  http.bodies.set('/pem.crl', await signCrl(pki.ca, [revoked.serial], { pem: true }))
  const b = await startTlsBroker(t, sslOptions(pki, CHECKED), { config: { crl_cache: { refresh_interval: '300ms', http_timeout: '1s' } } })
  const tls = { ca: pki.ca.certPem, servername: 'localhost' }

  const first = await mqttTry(b.sslPort, { ...tls, cert: good.certPem, key: good.keyPem, clientId: 'first' }, t)
  t.ok(first.client?.connected, 'connects while the CRL (PEM) is served')
  await http.stop()
  const warning = await waitForLog(b.logs, (l) => l.msg === 'CRL refresh failed, the last good CRL stays in use')
  t.match(warning, { url, error: /ECONNREFUSED/ }, 'the failed refresh names the URL and the error')

  const later = await mqttTry(b.sslPort, { ...tls, cert: good.certPem, key: good.keyPem, clientId: 'later' }, t)
  t.ok(later.client?.connected, 'a good certificate still connects')
  const bad = await handshake(b.sslPort, { ...tls, cert: revoked.certPem, key: revoked.keyPem })
  t.match(await failureFrom(b, bad.localPort), { reason: 'cert_revoked' }, 'the cached CRL still refuses the revoked one')
})

t.test('an unreachable distribution point with nothing cached refuses the client with crl_unavailable', async (t) => {
  const url = `http://127.0.0.1:${await freePort()}/nowhere.crl`
  const cert = await clientWithDp(pki, 'unreachable-dp', url)
  const b = await startTlsBroker(t, sslOptions(pki, CHECKED), { config: { crl_cache: { http_timeout: '2s' } } })
  const res = await handshake(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', cert: cert.certPem, key: cert.keyPem })
  t.ok(res.closedAfterHandshake || res.error, 'refused')
  const line = await failureFrom(b, res.localPort)
  t.match(line, { reason: 'crl_unavailable' })
  t.match(String(line.msg), url, 'the detail names the URL')
  t.match(String(line.msg), /ECONNREFUSED/, 'and the error')
  t.equal(b.broker.core.metrics.tlsFailures.crl_unavailable, 1)
})

t.test('a certificate revoked after the first fetch is refused once the refresh interval passes', async (t) => {
  const http = await crlServer(t)
  const url = http.url('/ca.crl')
  const cert = await clientWithDp(pki, 'soon-revoked', url)
  http.bodies.set('/ca.crl', await signCrl(pki.ca, []))
  const b = await startTlsBroker(t, sslOptions(pki, CHECKED), { config: { crl_cache: { refresh_interval: '300ms' } } })
  const tls = { ca: pki.ca.certPem, servername: 'localhost', cert: cert.certPem, key: cert.keyPem }

  const before = await mqttTry(b.sslPort, { ...tls, clientId: 'before' }, t)
  t.ok(before.client?.connected, 'connects while not revoked')
  http.bodies.set('/ca.crl', await signCrl(pki.ca, [cert.serial]))
  await until(() => b.logs.some((l) => l.msg === 'CRL fetched' && l.revoked === 1), 'the refresh of the updated CRL')
  const after = await handshake(b.sslPort, tls)
  t.match(await failureFrom(b, after.localPort), { reason: 'cert_revoked' }, 'refused after the refresh')
})

t.test('a CRL past its nextUpdate is fetched again on its next use', async (t) => {
  const http = await crlServer(t)
  const url = http.url('/stale.crl')
  const cert = await clientWithDp(pki, 'stale-crl', url)
  http.bodies.set('/stale.crl', await signCrl(pki.ca, [], { nextUpdate: new Date(Date.now() - 1000) }))
  const b = await startTlsBroker(t, sslOptions(pki, CHECKED))
  const tls = { ca: pki.ca.certPem, servername: 'localhost', cert: cert.certPem, key: cert.keyPem }
  t.ok((await mqttTry(b.sslPort, { ...tls, clientId: 's1' }, t)).client?.connected)
  t.ok((await mqttTry(b.sslPort, { ...tls, clientId: 's2' }, t)).client?.connected)
  t.equal(http.fetches.get('/stale.crl'), 2, 'each use of an expired CRL refetches it')
})

t.test('a CRL not signed by the certificate\'s issuer is not trusted', async (t) => {
  const http = await crlServer(t)
  const url = http.url('/forged.crl')
  const cert = await clientWithDp(pki, 'forged-crl', url)
  // Same subject name as the real CA, another key.
  const impostor = await createCa({ cn: 'Culex Test CA', key: 'ec256' })
  http.bodies.set('/forged.crl', await signCrl(impostor, []))
  const b = await startTlsBroker(t, sslOptions(pki, CHECKED))
  const res = await handshake(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', cert: cert.certPem, key: cert.keyPem })
  const line = await failureFrom(b, res.localPort)
  t.match(line, { reason: 'crl_unavailable', msg: /signature does not verify/ })
})

t.test('enable_crl_check with verify_none stops start-up', async (t) => {
  await t.rejects(startTlsBroker(t, sslOptions(pki, { verify: 'verify_none', enable_crl_check: true })),
    { code: 'CULEX_ERR_TLS_CONFIG', message: /ssl_options\.enable_crl_check/ })
})

t.test('a certificate without a distribution point is refused until a CRL of its issuer is cached, which then decides', async (t) => {
  const http = await crlServer(t)
  const url = http.url('/issuer.crl')
  const withDp = await clientWithDp(pki, 'with-dp', url)
  const revokedNoDp = await issueClient({ ca: pki.ca, cn: 'revoked-no-dp' })
  http.bodies.set('/issuer.crl', await signCrl(pki.ca, [new x509.X509Certificate(revokedNoDp.certPem).serialNumber]))
  const b = await startTlsBroker(t, sslOptions(pki, CHECKED))
  const tls = { ca: pki.ca.certPem, servername: 'localhost' }

  const early = await handshake(b.sslPort, { ...tls, cert: pki.client.certPem, key: pki.client.keyPem }, 3000)
  t.ok(early.closedAfterHandshake || early.error, 'refused: its revocation status cannot be determined (OTP crl_check = peer)')
  const line = await failureFrom(b, early.localPort)
  t.match(line, { reason: 'crl_unavailable', msg: /names no CRL distribution point and no current CRL of its issuer is cached/ })

  t.ok((await mqttTry(b.sslPort, { ...tls, cert: withDp.certPem, key: withDp.keyPem, clientId: 'with-dp' }, t)).client?.connected, 'a certificate with a distribution point brings its issuer\'s CRL')
  t.ok((await mqttTry(b.sslPort, { ...tls, cert: pki.client.certPem, key: pki.client.keyPem, clientId: 'no-dp' }, t)).client?.connected, 'then one without a distribution point, not in that CRL, connects')
  const revoked = await handshake(b.sslPort, { ...tls, cert: revokedNoDp.certPem, key: revokedNoDp.keyPem }, 3000)
  t.match(await failureFrom(b, revoked.localPort), { reason: 'cert_revoked', msg: /cached from/ }, 'and one that CRL revokes is refused')
})

t.test('with ssl_options.crlfile, a certificate without a distribution point is covered by that file', async (t) => {
  const [crlfile] = Object.values(await writeFiles(dir, { 'covering.crl.pem': (await signCrl(pki.ca, [], { pem: true })).toString() }))
  const b = await startTlsBroker(t, sslOptions(pki, { ...CHECKED, crlfile }))
  const ok = await mqttTry(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', cert: pki.client.certPem, key: pki.client.keyPem, clientId: 'crlfile' }, t)
  t.ok(ok.client?.connected, 'OpenSSL checked it against crlfile in the handshake')
})

// A guard: Node 20 keeps the chain of a resumed session, so the issuer is found; were it not, the bundle's
// ca.pem is asked next, and with no issuer at all the client is refused (never admitted unchecked).
t.test('a resumed session on a managed bundle still has the CRL\'s signature checked', async (t) => {
  const AGED = { startDaysAgo: 40, days: 400 }
  const ca = await createCa({ cn: 'Bundle Client CA', key: 'ec256', ...AGED, days: 2000 })
  const server = await issueServer({ ca, cn: 'localhost', sans: ['localhost', '127.0.0.1'], ...AGED })
  const http = await crlServer(t)
  const client = await issueClient({ ca, cn: 'resumed', extensions: [new x509.CRLDistributionPointsExtension([http.url('/bundle.crl')])] })
  // Past its nextUpdate: fetched again at each use, so the second handshake meets the forged one.
  http.bodies.set('/bundle.crl', await signCrl(ca, [], { nextUpdate: new Date(Date.now() - 1000) }))
  const { log, lines } = memoryLog()
  const broker = new Broker({
    logger: log,
    config: {
      node: { data_dir: t.testdir({}) },
      durable_storage: { backend: 'memory' },
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0' } },
        ssl: { default: { bind: '127.0.0.1:0', ssl_options: { ...CHECKED, versions: ['tlsv1.2'], managed_certs: [{ bundle_name: 'crl-bundle' }] } } },
      },
      sys_topics: { sys_msg_interval: 'disabled', sys_heartbeat_interval: 'disabled' },
      dashboard: { listeners: { http: { enable: false } } },
    },
  })
  await broker.certStore.put({ name: 'crl-bundle' }, { key: server.keyPem, chain: server.certPem + ca.certPem, ca: ca.certPem })
  await broker.start()
  t.teardown(() => broker.close())
  const port = broker.port('ssl')
  const tls = { ca: ca.certPem, servername: 'localhost', cert: client.certPem, key: client.keyPem }

  const first = await handshake(port, tls, 1000)
  t.ok(first.secure && !first.closedAfterHandshake && first.session, 'a full handshake is admitted and leaves a session')
  const genuine = await handshake(port, { ...tls, session: first.session! }, 1000)
  t.ok(genuine.reused && !genuine.closedAfterHandshake, 'the resumed session is admitted with the genuine CRL')

  const impostor = await createCa({ cn: 'Bundle Client CA', key: 'ec256' })
  http.bodies.set('/bundle.crl', await signCrl(impostor, [], { nextUpdate: new Date(Date.now() - 1000) }))
  const forged = await handshake(port, { ...tls, session: first.session! }, 3000)
  t.ok(forged.reused, 'the session is resumed')
  t.ok(forged.closedAfterHandshake || forged.error, 'a forged CRL is not trusted on a resumed session')
  const line = await waitForLog(lines, (l) => String(l.msg).startsWith('TLS handshake failed') && l.peer === `127.0.0.1:${forged.localPort}`)
  t.match(line, { reason: 'crl_unavailable', msg: /signature does not verify/ })
})
