// ssl_options.ocsp: the listener asks an OCSP responder (openssl ocsp) about its certificate, staples the
// answer to handshakes that ask for it (s_client -status, Node requestOCSP), keeps it while the responder is
// down until its nextUpdate, and refuses to start without a responder URL or issuer.
import { spawn } from 'node:child_process'
import { spawnOwned } from '../processes.js'
import { createPrivateKey, sign, X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls'
import t from 'tap'
import { BasicOCSPResponse, CertStatus, OCSPRequest, OCSPResponse, OCSPResponseStatus, ResponderID, ResponseBytes, ResponseData, SingleResponse, id_pkix_ocsp_basic } from '@peculiar/asn1-ocsp'
import { AsnConvert, OctetString } from '@peculiar/asn1-schema'
import { AlgorithmIdentifier } from '@peculiar/asn1-x509'
import { createCa, issueClient, issueServer, type Issued } from '../../src/certs/index.js'
import { Broker } from '../../src/index.js'
import { delay, memoryLog } from '../helpers.js'
import { basePki, handshake, mqttTry, OPENSSL, pkiDir, startTlsBroker, waitForLog, writeFiles, type BasePki } from './tls-helpers.js'

type Teardown = Parameters<typeof pkiDir>[0]

/** YYMMDDHHMMSSZ, as openssl's index.txt writes dates. */
const indexDate = (d: Date) => d.toISOString().replace(/^\d\d(\d\d)-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d).*$/, '$1$2$3$4$5$6Z')

const serialOf = (pem: string) => new X509Certificate(pem).serialNumber.toUpperCase()

/** An index.txt line: V (valid) or R (revoked an hour ago) for that certificate (openssl wants subjects unique). */
function indexLine (certPem: string, state: 'V' | 'R', dn = '/CN=localhost'): string {
  const cert = new X509Certificate(certPem)
  const revoked = state === 'R' ? indexDate(new Date(Date.now() - 3_600_000)) : ''
  return [state, indexDate(new Date(cert.validTo)), revoked, serialOf(certPem), 'unknown', dn].join('\t') + '\n'
}

interface Responder { url: string, stop (): Promise<void> }

/**
 * `openssl ocsp` answering for the base CA from an index of `lines`, signing with a delegated responder
 * certificate (EKU OCSPSigning); nextUpdate 5 minutes ahead. Port 0: openssl prints the one it bound.
 */
async function startResponder (t: Teardown, dir: string, pki: BasePki, lines: string): Promise<Responder> {
  const signer = await issueClient({ ca: pki.ca, cn: 'OCSP responder', eku: ['ocspSigning'] })
  const files = await writeFiles(dir, { 'index.txt': lines, 'ocsp.pem': signer.certPem, 'ocsp.key': signer.keyPem })
  const child = spawnOwned(t, OPENSSL, ['ocsp', '-index', files['index.txt']!, '-port', '0', '-rsigner', files['ocsp.pem']!, '-rkey', files['ocsp.key']!,
    '-CA', pki.files['ca.pem']!, '-nmin', '5', '-ignore_err'], { stdio: ['ignore', 'pipe', 'pipe'] })
  const exited = once(child, 'exit')
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill()
    await exited
  }
  t.teardown(stop)
  const port = await new Promise<number>((resolve, reject) => {
    let seen = ''
    const bound = setTimeout(() => reject(new Error(`openssl ocsp did not start: ${seen}`)), 5000)
    const onData = (d: Buffer) => {
      seen += d.toString()
      const m = /ACCEPT .*:(\d+)/.exec(seen)
      if (m && /waiting for OCSP client connections/.test(seen)) { clearTimeout(bound); resolve(Number(m[1])) }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', () => { clearTimeout(bound); reject(new Error(`openssl ocsp exited: ${seen}`)) })
  })
  return { url: `http://127.0.0.1:${port}/`, stop }
}

/** ssl_options with stapling from that responder. */
function ocspOptions (pki: BasePki, ocsp: Record<string, unknown>): Record<string, unknown> {
  return {
    certfile: pki.files['server.pem'],
    keyfile: pki.files['server.key'],
    cacertfile: pki.files['ca.pem'],
    ocsp: { enable_ocsp_stapling: true, issuer_pem: pki.files['ca.pem'], refresh_http_timeout: '2s', ...ocsp },
  }
}

/** `openssl s_client -status` with stdin ended; its output once it exits (bounded). */
function sClientStatus (port: number, caFile: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(OPENSSL, ['s_client', '-connect', `127.0.0.1:${port}`, '-status', '-servername', 'localhost', '-CAfile', caFile], { stdio: ['pipe', 'pipe', 'pipe'] })
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d.toString() })
    child.stderr.on('data', (d: Buffer) => { out += d.toString() })
    const bound = setTimeout(() => child.kill(), 5000)
    child.on('error', reject)
    child.on('close', () => { clearTimeout(bound); resolve(out) })
    child.stdin.end()
  })
}

/** A Node TLS client asking for the certificate status: the stapled response, or null when none came. */
function nodeStatus (port: number, ca: string): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    let response: Buffer | null = null
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca, requestOCSP: true } as ConnectionOptions)
    const bound = setTimeout(() => { socket.destroy(); reject(new Error('no handshake within 5 s')) }, 5000)
    socket.on('OCSPResponse', (r: Buffer | null) => { response = r })
    socket.on('secureConnect', () => { clearTimeout(bound); socket.destroy(); resolve(response) })
    socket.on('error', (err) => { clearTimeout(bound); reject(err) })
  })
}

const fetched = (l: Record<string, unknown>) => l.msg === 'OCSP response fetched and stapled'

t.test('a good status is stapled for s_client -status and Node requestOCSP; clients that do not ask still connect', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const responder = await startResponder(t, dir, pki, indexLine(pki.server.certPem, 'V'))
  const b = await startTlsBroker(t, ocspOptions(pki, { responder_url: responder.url }))
  t.match(b.logs.find(fetched), { listener: 'ssl:default', status: 'good', responder: responder.url }, 'the first fetch happened at start-up')

  const out = await sClientStatus(b.sslPort, pki.files['ca.pem']!)
  t.match(out, /OCSP Response Status: successful/, 's_client sees a stapled response')
  t.match(out, /Cert Status: good/)
  t.match(out, new RegExp(`Serial Number: ${serialOf(pki.server.certPem)}`), 'about the server certificate')

  const stapled = await nodeStatus(b.sslPort, pki.ca.certPem)
  t.ok(stapled && stapled.length > 0, 'Node client gets a non-empty OCSPResponse')
  t.equal(AsnConvert.parse(stapled!, OCSPResponse).responseStatus, OCSPResponseStatus.successful)

  const plain = await handshake(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', rejectUnauthorized: true })
  t.ok(plain.secure && !plain.error, 'a handshake without status_request succeeds')
  const mqttClient = await mqttTry(b.sslPort, { ca: pki.ca.certPem, servername: 'localhost', clientId: 'no-status' }, t)
  t.ok(mqttClient.client, 'an MQTT client that does not ask for the status connects')
})

t.test('responder down after the first fetch: the failure is logged and the last good response stays stapled', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const responder = await startResponder(t, dir, pki, indexLine(pki.server.certPem, 'V'))
  const b = await startTlsBroker(t, ocspOptions(pki, { responder_url: responder.url, refresh_interval: '300ms' }))
  await waitForLog(b.logs, fetched)
  await responder.stop()

  const failed = await waitForLog(b.logs, (l) => String(l.msg).startsWith('OCSP response not refreshed'))
  t.match(failed, { level: 40, listener: 'ssl:default', responder: responder.url, msg: /ECONNREFUSED.*the previous response stays stapled until/ })
  const out = await sClientStatus(b.sslPort, pki.files['ca.pem']!)
  t.match(out, /OCSP Response Status: successful/, 'still stapled')
  t.match(out, /Cert Status: good/)
})

t.test('a revoked certificate: the stapled response says revoked and the broker warns', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const responder = await startResponder(t, dir, pki, indexLine(pki.server.certPem, 'R'))
  const b = await startTlsBroker(t, ocspOptions(pki, { responder_url: responder.url }))
  const warning = await waitForLog(b.logs, (l) => l.status === 'revoked')
  t.match(warning, { level: 40, listener: 'ssl:default', msg: /status is revoked/ })
  const out = await sClientStatus(b.sslPort, pki.files['ca.pem']!)
  t.match(out, /Cert Status: revoked/)
})

t.test('a reloaded certificate gets its own response', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const next = await issueServer({ ca: pki.ca, cn: 'localhost', sans: ['localhost', '127.0.0.1'] })
  const responder = await startResponder(t, dir, pki, indexLine(pki.server.certPem, 'V') + indexLine(next.certPem, 'V', '/CN=localhost/OU=next'))
  const b = await startTlsBroker(t, ocspOptions(pki, { responder_url: responder.url }))
  await waitForLog(b.logs, fetched)
  writeFileSync(pki.files['server.pem']!, next.certPem)
  writeFileSync(pki.files['server.key']!, next.keyPem)
  t.equal(b.broker.reloadTls('test'), 1)
  const deadline = Date.now() + 3000
  let out = ''
  while (Date.now() < deadline) {
    out = await sClientStatus(b.sslPort, pki.files['ca.pem']!)
    if (out.includes(`Serial Number: ${serialOf(next.certPem)}`)) break
    await delay(50)
  }
  t.match(out, new RegExp(`Serial Number: ${serialOf(next.certPem)}`), 'the stapled response names the new certificate')
  t.match(out, /Cert Status: good/)
})

t.test('a response past its nextUpdate is no longer stapled', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  // openssl ocsp sets nextUpdate in whole minutes: a small responder here gives one 1.5 s ahead.
  const server = await shortLivedResponder(pki.ca, 1500)
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`
  const b = await startTlsBroker(t, ocspOptions(pki, { responder_url: url, refresh_interval: '300ms' }))
  await waitForLog(b.logs, fetched)
  t.ok(await nodeStatus(b.sslPort, pki.ca.certPem), 'stapled while fresh')
  server.close()
  server.closeAllConnections()
  await waitForLog(b.logs, (l) => String(l.msg).startsWith('OCSP response expired'), 4000)
  t.equal(await nodeStatus(b.sslPort, pki.ca.certPem), null, 'nothing stapled after nextUpdate')
})

t.test('start-up: a responder that does not answer only logs; bad settings stop it naming the key', async (t) => {
  const dir = await pkiDir(t)
  const pki = await basePki(dir)
  const b = await startTlsBroker(t, ocspOptions(pki, { responder_url: 'http://127.0.0.1:1/' }))
  t.match(b.logs.find((l) => String(l.msg).startsWith('OCSP response not refreshed')), { listener: 'ssl:default', responder: 'http://127.0.0.1:1/', msg: /nothing is stapled/ })
  t.equal(await nodeStatus(b.sslPort, pki.ca.certPem), null, 'the listener runs without a staple')

  await t.rejects(startTlsBroker(t, ocspOptions(pki, { responder_url: '' })),
    { code: 'CULEX_ERR_TLS_CONFIG', message: /^listener ssl:default: ssl_options\.ocsp\.responder_url is empty/ })
  await t.rejects(startTlsBroker(t, ocspOptions(pki, { responder_url: 'ldap://ocsp.example' })),
    { code: 'CULEX_ERR_TLS_CONFIG', message: /ssl_options\.ocsp\.responder_url ldap:\/\/ocsp\.example: only http/ })
  await t.rejects(startTlsBroker(t, ocspOptions(pki, { responder_url: 'http://127.0.0.1:1/', issuer_pem: join(dir, 'missing.pem') })),
    { code: 'CULEX_ERR_TLS_CONFIG', message: /ssl_options\.ocsp\.issuer_pem .*missing\.pem: ENOENT/ })
  const other = await createCa({ cn: 'Other CA' })
  const files = await writeFiles(dir, { 'other.pem': other.certPem })
  await t.rejects(startTlsBroker(t, ocspOptions(pki, { responder_url: 'http://127.0.0.1:1/', issuer_pem: files['other.pem'] })),
    { code: 'CULEX_ERR_TLS_CONFIG', message: /ssl_options\.ocsp\.issuer_pem CN=Other CA is not the issuer/ })
})

t.test('a managed-certificate listener does not staple and says so', async (t) => {
  const { log, lines } = memoryLog()
  const ca = await createCa({ cn: 'Bundle CA', startDaysAgo: 40, days: 2000 })
  const leaf = await issueServer({ ca, cn: 'localhost', sans: ['localhost'], startDaysAgo: 40, days: 400 })
  const broker = new Broker({
    logger: log,
    config: {
      node: { data_dir: t.testdir({}) },
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0' } },
        ssl: { default: { bind: '127.0.0.1:0', ssl_options: { managed_certs: [{ bundle_name: 'b' }], ocsp: { enable_ocsp_stapling: true } } } },
      },
      sys_topics: { sys_msg_interval: 'disabled', sys_heartbeat_interval: 'disabled' },
      dashboard: { listeners: { http: { enable: false } } },
    },
  })
  await broker.certStore.put({ name: 'b' }, { key: leaf.keyPem, chain: leaf.certPem + ca.certPem })
  await broker.start()
  t.teardown(() => broker.close())
  t.match(lines.find((l) => l.level === 40 && /OCSP stapling covers certfile only/.test(String(l.msg))), { listener: 'ssl:default' })
  t.equal(await nodeStatus(broker.port('ssl'), ca.certPem), null, 'no staple')
})

/** An HTTP OCSP responder answering "good" for whatever it is asked, signed by the CA, valid for `ttlMs`. */
async function shortLivedResponder (ca: Issued, ttlMs: number): Promise<Server> {
  const key = createPrivateKey(ca.keyPem)
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const asked = AsnConvert.parse(Buffer.concat(chunks), OCSPRequest).tbsRequest.requestList[0]!.reqCert
      const now = Date.now()
      const data = new ResponseData({
        responderID: new ResponderID({ byKey: new OctetString(asked.issuerKeyHash.buffer) }),
        producedAt: new Date(now),
        responses: [new SingleResponse({ certID: asked, certStatus: new CertStatus({ good: null }), thisUpdate: new Date(now - 1000), nextUpdate: new Date(now + ttlMs) })],
      })
      const tbs = AsnConvert.serialize(data)
      const basic = new BasicOCSPResponse({
        tbsResponseData: data,
        signatureAlgorithm: new AlgorithmIdentifier({ algorithm: '1.2.840.10045.4.3.2' }),
        signature: sign('sha256', Buffer.from(tbs), key).buffer as ArrayBuffer,
      })
      const body = AsnConvert.serialize(new OCSPResponse({
        responseStatus: OCSPResponseStatus.successful,
        responseBytes: new ResponseBytes({ responseType: id_pkix_ocsp_basic, response: new OctetString(AsnConvert.serialize(basic)) }),
      }))
      res.writeHead(200, { 'content-type': 'application/ocsp-response' }).end(Buffer.from(body))
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return server
}
