// GET /api/v5/prometheus/stats: Prometheus text that parses, is public while the rest of the API asks
// for a key, and whose figures follow real traffic (MQTT over TCP and TLS, a refused token, a non-TLS
// client on the ssl port), certificate expiry, separate registries for brokers in one process, and the
// same new counters in $SYS.
import { readFile } from 'node:fs/promises'
import t from 'tap'
import { SignJWT } from 'jose'
import mqtt from 'mqtt'
import { createCa, issueServer } from '../../src/certs/index.js'
import { CertStore } from '../../src/certs/store.js'
import { collect, connectClient, end, rawSocket, within } from '../helpers.js'
import { basePki, pkiDir, sslOptions } from '../listeners/tls-helpers.js'
import { ADMIN, call, startApiBroker, tempDir, until } from './api-helpers.js'

const PATH = '/api/v5/prometheus/stats'
const SECRET = 'prom-secret'
const JWT = { mechanism: 'jwt', from: 'password', use_jwks: false, algorithm: 'hmac-based', secret: SECRET }
const DAY_S = 24 * 60 * 60

const token = (secret: string, expiresIn = 60) => new SignJWT({ exp: Math.floor(Date.now() / 1000) + expiresIn }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(secret))

interface Sample { name: string, labels: Record<string, string>, value: number }

// name{label="value",...} value — label values may hold escaped quotes, backslashes and \n; Prometheus
// reads NaN and Inf in any case (prom-client writes `Nan`).
const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*",?)*)\})? (-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|[Nn][Aa][Nn]|[+-]?[Ii]nf))$/
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g

/** Parses the text exposition format; returns the lines that do not parse too. */
function parse (text: string): { samples: Sample[], bad: string[] } {
  const samples: Sample[] = []
  const bad: string[] = []
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue
    const m = LINE.exec(line)
    if (!m) { bad.push(line); continue }
    const labels: Record<string, string> = {}
    for (const [, k, v] of (m[2] ?? '').matchAll(LABEL)) labels[k!] = v!.replace(/\\n/g, '\n').replace(/\\(.)/g, '$1')
    samples.push({ name: m[1]!, labels, value: Number(m[3]) })
  }
  return { samples, bad }
}

/** The samples of a metric whose labels include `labels`. */
const find = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))

const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) => {
  const found = find(samples, name, labels)
  return found.length === 1 ? found[0]!.value : undefined
}

async function scrape (base: string): Promise<{ samples: Sample[], bad: string[], contentType: string | null, status: number, text: string }> {
  const reply = await call(base, PATH, { auth: '' })
  return { ...parse(reply.text), contentType: reply.headers.get('content-type'), status: reply.status, text: reply.text }
}

/** CONNACK reason of an MQTT 5 connection attempt (0: accepted). */
function connack (port: number, password: string): Promise<number> {
  return new Promise((resolve) => {
    const client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 5, username: 'u', password, reconnectPeriod: 0, connectTimeout: 3000 })
    const done = (code: number) => { client.end(true); resolve(code) }
    client.once('connect', () => done(0))
    client.once('error', (err) => done((err as { code?: number }).code ?? -1))
    client.once('close', () => done(-1))
  })
}

t.test('MQTT and TLS traffic, a refused token and a non-TLS client show in the scrape', async (t) => {
  const pki = await basePki(await pkiDir(t))
  const b = await startApiBroker(t, {
    keys: [ADMIN],
    config: {
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0' } },
        ssl: { default: { bind: '127.0.0.1:0', ssl_options: sslOptions(pki) } },
      },
      authentication: [JWT],
    },
  })
  const sslPort = b.broker.port('ssl')
  const good = await token(SECRET)

  const sub = await connectClient(b.tcpPort, { clientId: 'prom-sub', protocolVersion: 5, username: 'u', password: good })
  const pub = await connectClient(sslPort, { clientId: 'prom-pub', protocol: 'mqtts', ca: pki.ca.certPem, servername: 'localhost', username: 'u', password: good })
  t.teardown(() => Promise.all([end(sub, true), end(pub, true)]))
  const got = collect(sub)
  await sub.subscribeAsync('p/#', { qos: 1 })
  for (let i = 0; i < 3; i++) await pub.publishAsync('p/zero', `q0-${i}`, { qos: 0 })
  for (let i = 0; i < 2; i++) await pub.publishAsync('p/one', `q1-${i}`, { qos: 1 })
  await got.waitFor(5)

  t.equal(await connack(b.tcpPort, await token(SECRET, -60)), 0x86, 'jwt refuses an expired token')
  t.equal(await connack(b.tcpPort, await token('wrong-secret')), 0x87, 'jwt ignores a token signed with another secret: nobody accepts')
  const raw = await rawSocket(sslPort)
  raw.socket.write(Buffer.from([0x10, 0x0c, 0x00, 0x04, 0x4d, 0x51, 0x54, 0x54, 0x04, 0x02, 0x00, 0x3c, 0x00, 0x00]))
  t.ok(await within(3000, raw.closed), 'plain MQTT on the ssl port is closed')

  t.equal((await call(b.base, '/api/v5/stats', { auth: '' })).status, 401, 'the rest of the API still asks for a key')
  const s = await until(async () => {
    const r = await scrape(b.base)
    return (value(r.samples, 'culex_tls_handshake_failures_total', { reason: 'not_tls' }) ?? 0) >= 1 && (value(r.samples, 'emqx_messages_sent') ?? 0) >= 5 ? r : undefined
  }, 'the scrape shows the traffic')
  t.equal(s.status, 200, 'served without credentials')
  t.match(s.contentType, /^text\/plain; version=0\.0\.4/)
  t.same(s.bad, [], 'every sample line is name{labels} value')
  t.ok(s.samples.length > 50, `${s.samples.length} samples`)
  t.match(s.text, /# TYPE emqx_messages_received counter/)
  t.match(s.text, /# TYPE emqx_connections_count gauge/)

  const v = (name: string, labels?: Record<string, string>) => value(s.samples, name, labels)
  t.equal(v('emqx_connections_count'), 2)
  t.equal(v('emqx_live_connections_count'), 2)
  t.equal(v('emqx_sessions_count'), 2)
  t.equal(v('emqx_subscriptions_count'), 1)
  t.equal(v('culex_connections', { listener: 'tcp:default', proto_ver: '5' }), 1, 'the MQTT 5 subscriber over TCP')
  t.equal(v('culex_connections', { listener: 'ssl:default', proto_ver: '4' }), 1, 'the MQTT 3.1.1 publisher over TLS')
  t.ok(v('emqx_messages_received')! >= 5, 'five PUBLISH received')
  t.equal(v('emqx_messages_qos0_received'), 3)
  t.equal(v('emqx_messages_qos1_received'), 2)
  t.equal(v('emqx_messages_qos2_received'), 0)
  t.ok(v('emqx_messages_sent')! >= 5, 'five delivered')
  t.equal(v('emqx_messages_qos0_sent'), 3)
  t.equal(v('emqx_messages_qos1_sent'), 2)
  t.ok(v('emqx_packets_received')! >= 9, 'CONNECTs, SUBSCRIBE, PUBLISHes, ...')
  t.ok(v('emqx_packets_sent')! >= 9, 'CONNACKs, SUBACK, PUBACKs, PUBLISHes, ...')
  t.ok(v('emqx_bytes_received')! > 0)
  t.ok(v('emqx_bytes_sent')! > 0)
  t.equal(v('emqx_messages_dropped'), 0)
  t.equal(v('culex_session_queued_messages'), 0)
  t.ok(v('culex_session_inflight_messages')! >= 0)

  t.ok(v('culex_tls_handshake_failures_total', { listener: 'ssl:default', reason: 'not_tls' })! >= 1, 'the non-TLS client counted')
  t.ok(v('culex_tls_handshakes_total', { listener: 'ssl:default' })! >= 1, 'the TLS publisher counted')
  t.equal(v('culex_authn_success_total', { authenticator: 'jwt' }), 2)
  t.equal(v('culex_authn_failure_total', { authenticator: 'jwt', reason: 'bad_user_name_or_password' }), 1)
  t.equal(v('culex_authn_failure_total', { authenticator: 'chain', reason: 'not_authorized' }), 1)
  t.equal(v('emqx_authentication_success'), 2)
  t.equal(v('emqx_authentication_failure'), 2)
  t.equal(v('culex_connections_refused_total'), 2)

  const expiry = find(s.samples, 'culex_cert_expiry_seconds', { listener: 'ssl:default' })
  t.equal(expiry.length, 1, 'the server certificate of the ssl listener')
  t.equal(expiry[0]!.labels.subject, 'CN=localhost')
  t.match(expiry[0]!.labels.file, /server\.pem$/)
  const seconds = expiry[0]!.value
  t.ok(seconds > 800 * DAY_S && seconds <= 826 * DAY_S, `about 825 days left (${Math.round(seconds / DAY_S)})`)

  t.equal(find(s.samples, 'nodejs_eventloop_lag_seconds').length, 1, 'event-loop lag present')
  t.ok(find(s.samples, 'nodejs_heap_size_used_bytes').length === 1, 'heap present')

  // docker/grafana-dashboard.json queries only metrics this scrape has.
  const dashboard = JSON.parse(await readFile(new URL('../../docker/grafana-dashboard.json', import.meta.url), 'utf8')) as { panels: { targets: { expr: string }[] }[] }
  const queried = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((q) => q.expr.match(/\b(?:emqx|culex|nodejs|process)_[a-z0-9_]+/g) ?? [])))
  t.ok(queried.size >= 8, `the dashboard queries ${[...queried].join(', ')}`)
  t.same([...queried].filter((name) => find(s.samples, name).length === 0), [], 'every metric the dashboard queries is served')
})

t.test('brokers in one process keep their own figures; managed bundles report their expiry', async (t) => {
  const dataDir = await tempDir(t)
  const AGED = { startDaysAgo: 40, days: 400 }
  const ca = await createCa({ cn: 'Bundle CA', ...AGED, days: 2000 })
  const leaf = await issueServer({ ca, cn: 'bundle.example.com', sans: ['bundle.example.com'], ...AGED })
  await new CertStore(dataDir).put({ name: 'site' }, { key: leaf.keyPem, chain: leaf.certPem + ca.certPem })
  const one = await startApiBroker(t, {
    config: {
      node: { data_dir: dataDir },
      listeners: {
        tcp: { default: { bind: '127.0.0.1:0' } },
        wss: { default: { bind: '127.0.0.1:0', ssl_options: { managed_certs: [{ bundle_name: 'site' }] } } },
      },
    },
  })
  const two = await startApiBroker(t)
  const client = await connectClient(one.tcpPort, { clientId: 'only-on-one' })
  t.teardown(() => end(client, true))

  const a = await scrape(one.base)
  const b = await scrape(two.base)
  t.same([a.bad, b.bad], [[], []], 'both parse')
  t.equal(value(a.samples, 'emqx_connections_count'), 1)
  t.equal(value(b.samples, 'emqx_connections_count'), 0, 'the other broker does not see that client')
  t.equal(find(b.samples, 'culex_cert_expiry_seconds').length, 0, 'no TLS listener, no certificate')
  t.equal(find(b.samples, 'nodejs_eventloop_lag_seconds').length, 1, 'process metrics in each registry')

  const expiry = find(a.samples, 'culex_cert_expiry_seconds', { listener: 'wss:default', bundle: 'global/site' })
  t.same(expiry.map((e) => e.labels.subject).sort(), ['CN=Bundle CA', 'CN=bundle.example.com'], 'every certificate of chain.pem')
  for (const e of expiry) {
    const days = e.value / DAY_S
    const wanted = e.labels.subject === 'CN=Bundle CA' ? 1960 : 360
    t.ok(Math.abs(days - wanted) < 2, `${e.labels.subject}: ${days.toFixed(1)} days left`)
    t.equal(e.labels.file, '')
  }
})

t.test('$SYS publishes the new counters under EMQX\'s names too', async (t) => {
  const b = await startApiBroker(t, { config: { sys_topics: { sys_msg_interval: '100ms', sys_heartbeat_interval: 'disabled' } } })
  const node = b.broker.config.node.name
  const sub = await connectClient(b.tcpPort, { clientId: 'sys-sub', protocolVersion: 5 })
  t.teardown(() => end(sub, true))
  const inbox = collect(sub)
  await sub.subscribeAsync([`$SYS/brokers/${node}/metrics/#`, `$SYS/brokers/${node}/stats/live_connections.count`], { qos: 0 })
  for (let i = 0; i < 2; i++) await sub.publishAsync('x/y', 'z', { qos: 1 })
  const latest = (name: string) => inbox.messages.filter((m) => m.topic.endsWith(`/${name}`)).at(-1)?.payload.toString()
  await until(() => latest('messages.qos1.received') === '2', '$SYS metrics/messages.qos1.received = 2')
  t.equal(latest('messages.qos0.received'), '0')
  t.ok(Number(latest('packets.sent')) >= 3, 'CONNACK, SUBACK, PUBACKs')
  t.equal(latest('authentication.failure'), '0')
  t.equal(latest('live_connections.count'), '1')
  const s = await scrape(b.base)
  t.equal(value(s.samples, 'emqx_messages_qos1_received'), 2, 'the same figure in the scrape')
})
