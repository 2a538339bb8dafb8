// Client certificates are verified only with the CAs the operator configured (cacertfile, a managed
// bundle's ca.pem, the device registry), never with Node's public roots or NODE_EXTRA_CA_CERTS: a
// verify_peer listener without any CA refuses every client certificate with reason no_client_ca.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { createCa, issueClient, issueServer, type Issued } from '../../src/certs/index.js'
import { Broker } from '../../src/index.js'
import { call, until } from '../api/api-helpers.js'
import { freePort, memoryLog, spawnBrokerProcess } from '../helpers.js'
import { handshake, mqttTry, waitForLog } from './tls-helpers.js'

// Seed 000 refuses bundle certificates within 30 days of notBefore: issue them as if made 40 days ago.
const AGED = { startDaysAgo: 40, days: 400 }

interface Pki { own: Issued, server: Issued, device: Issued, publicCa: Issued, publicClient: Issued }

/** The operator's CA (server and device certificates) and a stand-in "public" CA with a client certificate CN admin. */
async function makePki (): Promise<Pki> {
  const own = await createCa({ cn: 'Operator CA', ...AGED, days: 2000 })
  const server = await issueServer({ ca: own, cn: 'localhost', sans: ['localhost', '127.0.0.1'], ...AGED })
  const device = await issueClient({ ca: own, cn: 'device-1', ...AGED })
  const publicCa = await createCa({ cn: 'Stand-in Public Root', ...AGED, days: 2000 })
  const publicClient = await issueClient({ ca: publicCa, cn: 'admin', ...AGED })
  return { own, server, device, publicCa, publicClient }
}

const pki = await makePki()
const clientTls = (cert: Issued) => ({ ca: pki.own.certPem, servername: 'localhost', cert: cert.certPem, key: cert.keyPem })

t.test('a managed bundle without ca.pem refuses every client certificate with reason no_client_ca', async (t) => {
  const { log, lines } = memoryLog()
  const broker = new Broker({
    logger: log,
    config: {
      node: { data_dir: t.testdir({}) },
      durable_storage: { backend: 'memory' },
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0' } },
        ssl: { default: { bind: '127.0.0.1:0', ssl_options: { verify: 'verify_peer', fail_if_no_peer_cert: true, managed_certs: [{ bundle_name: 'no-ca' }] } } },
      },
      sys_topics: { sys_msg_interval: 'disabled', sys_heartbeat_interval: 'disabled' },
      dashboard: { listeners: { http: { enable: false } } },
    },
  })
  await broker.certStore.put({ name: 'no-ca' }, { key: pki.server.keyPem, chain: pki.server.certPem + pki.own.certPem })
  await broker.start()
  t.teardown(() => broker.close())

  t.match(await waitForLog(lines, (l) => /no CA for client certificates/.test(String(l.msg))), { listener: 'ssl:default', without: ['global/no-ca'] },
    'the start warns that the listener trusts no client CA')
  const res = await handshake(broker.port('ssl'), clientTls(pki.device))
  t.ok(res.closedAfterHandshake || res.error, 'a certificate of the operator\'s CA is refused too: nothing is trusted')
  const line = await waitForLog(lines, (l) => String(l.msg).startsWith('TLS handshake failed') && l.peer === `127.0.0.1:${res.localPort}`)
  t.match(line, { reason: 'no_client_ca', msg: /no CA for client certificates.*public roots are never trusted/ }, 'the reason says why')
  t.equal(broker.core.metrics.tlsFailures.no_client_ca, 1, 'counted under no_client_ca')
})

t.test('NODE_EXTRA_CA_CERTS (a stand-in public CA) never admits a client, before or after the bundle\'s ca.pem is deleted through the API', async (t) => {
  const dir = t.testdir({})
  const publicPem = join(dir, 'public-root.pem')
  await writeFile(publicPem, pki.publicCa.certPem)
  const bundleDir = join(dir, 'data', 'certs', 'global', 'b1')
  await mkdir(bundleDir, { recursive: true })
  await writeFile(join(bundleDir, 'key.pem'), pki.server.keyPem, { mode: 0o600 })
  await writeFile(join(bundleDir, 'chain.pem'), pki.server.certPem + pki.own.certPem)
  await writeFile(join(bundleDir, 'ca.pem'), pki.own.certPem)
  const [tcp, ssl, api] = [await freePort(), await freePort(), await freePort()]
  const logFile = join(dir, 'broker.log')
  await spawnBrokerProcess(t, join(dir, 'broker.hocon'), `node.data_dir = "${join(dir, 'data')}"
durable_storage.backend = memory
listeners.tcp.default.bind = "127.0.0.1:${tcp}"
listeners.ssl.default { bind = "127.0.0.1:${ssl}", ssl_options { verify = verify_peer, fail_if_no_peer_cert = true, managed_certs = [{ bundle_name = b1 }] } }
listeners.ws.default.enable = false
listeners.wss.default.enable = false
mqtt.peer_cert_as_username = cn
dashboard.listeners.http.bind = "127.0.0.1:${api}"
log.console.level = error
log.file.t { enable = true, level = info, formatter = json, path = "${logFile}" }
`, tcp, { NODE_EXTRA_CA_CERTS: publicPem })
  const base = `http://127.0.0.1:${api}`
  await until(async () => (await call(base, '/status').catch(() => null))?.status === 200, 'the management API', 5000)
  const logs = async () => (await readFile(logFile, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)

  const device = await mqttTry(ssl, { ...clientTls(pki.device), clientId: 'device-before' }, t)
  t.ok(device.client?.connected, 'a device certificate of the bundle\'s CA connects')
  device.client?.end(true)
  const before = await mqttTry(ssl, { ...clientTls(pki.publicClient), clientId: 'public-before' }, t)
  t.notOk(before.client, 'a certificate of the stand-in public CA is refused while ca.pem is there')

  const deleted = await call(base, '/api/v5/certs/global/name/b1?kind=ca', { method: 'DELETE' })
  t.equal(deleted.status, 204, 'ca.pem deleted through the API')
  await until(async () => (await logs()).some((l) => l.msg === 'managed certificates reloaded'), 'the reload without ca.pem', 5000)

  const after = await mqttTry(ssl, { ...clientTls(pki.publicClient), clientId: 'public-after' }, t)
  t.notOk(after.client, 'the stand-in public CA\'s certificate (CN admin) is still refused: no fall-back to public trust')
  const refusal = await until(async () => (await logs()).find((l) => l.reason === 'no_client_ca' && l.peer === `127.0.0.1:${after.localPort}`), 'the refusal line', 5000)
  t.match(refusal, { listener: 'ssl:default', msg: /TLS handshake failed: .*no CA for client certificates/ }, 'logged with its reason')
  t.ok((await logs()).some((l) => /no CA for client certificates/.test(String(l.msg))), 'the reload warns that the listener now trusts no client CA')
  const stale = await mqttTry(ssl, { ...clientTls(pki.device), clientId: 'device-after' }, t)
  t.notOk(stale.client, 'the operator\'s own devices are refused too until a CA is configured again')
})
