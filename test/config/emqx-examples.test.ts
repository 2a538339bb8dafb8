// EMQX 5.8-style configurations (test/fixtures/emqx/) start Culex with only the ports and the data directory
// changed, as a user moving from EMQX would change them (EMQX_ environment overrides); each key Culex accepts
// without effect is named in one notice at start, and the implemented ones act.
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { connect as tlsConnect } from 'node:tls'
import { fileURLToPath } from 'node:url'
import mqtt from 'mqtt'
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { createBroker, type Broker } from '../../src/server.js'
import { call } from '../api/api-helpers.js'
import { makePki } from '../certs/pki.js'
import { connectCollecting, end, memoryLog } from '../helpers.js'

const FIXTURES = fileURLToPath(new URL('../fixtures/emqx/', import.meta.url))

// One etc directory for the whole file, holding the fixtures and the certificates they name: EMQX's
// ${EMQX_ETC_DIR}/certs/{cacert,cert,key}.pem and, for the listeners EMQX has by default, Culex's certs/ layout.
const etc = t.testdir({})
cpSync(FIXTURES, etc, { recursive: true })
const pki = await makePki()
mkdirSync(join(etc, 'certs'))
for (const [name, pem] of Object.entries({ 'cacert.pem': pki.ca.certPem, 'cert.pem': pki.server.certPem, 'key.pem': pki.server.keyPem, 'ca.pem': pki.ca.certPem, 'server.pem': pki.server.certPem, 'server.key': pki.server.keyPem })) {
  writeFileSync(join(etc, 'certs', name), pem)
}

interface Started { broker: Broker, notices: string[], lines: Record<string, unknown>[] }

/**
 * Starts a broker on the fixture: every listener it has (its own, or the default ones) bound to 127.0.0.1:0,
 * the management API too when it configures one, node.data_dir in a directory of its own.
 */
async function start (t: Test, name: string, opts: { logger?: false, env?: Record<string, string> } = {}): Promise<Started> {
  // The default listeners' certificates (certs/server.pem...) are relative to the working directory, as under `culex start`.
  t.chdir(etc)
  const file = join(etc, name)
  const env: Record<string, string> = { EMQX_ETC_DIR: etc, EMQX_LOG_DIR: join(t.testdir({}), 'log'), ...opts.env }
  const first = loadConfig({ file, env, embedded: true }).config
  for (const [type, byName] of Object.entries(first.listeners)) {
    for (const listener of Object.keys(byName)) env[`EMQX_LISTENERS__${type.toUpperCase()}__${listener.toUpperCase()}__BIND`] = '"127.0.0.1:0"'
  }
  if (first.dashboard.listeners.http.enable) env.EMQX_DASHBOARD__LISTENERS__HTTP__BIND = '"127.0.0.1:0"'
  env.EMQX_NODE__DATA_DIR = `"${join(t.testdir({}), 'data')}"`
  const { log, lines } = memoryLog('info')
  const broker = await createBroker({ configFile: file, env, ...(opts.logger === false ? {} : { logger: log }) })
  t.teardown(() => broker.close())
  const notices = lines.filter((l) => l.level === 35 && typeof l.key === 'string').map((l) => l.key as string)
  return { broker, notices, lines }
}

const without = (prefix: string, keys: string[]) => keys.map((k) => `${prefix}.${k}`)

const EXPECTED: Record<string, string[]> = {
  'listeners.conf': ['listeners.ssl.default.ssl_options.hibernate_after',
    ...without('listeners.tcp.default', ['acceptors']),
    ...without('listeners.tcp.default.tcp_options', ['active_n', 'buffer', 'reuseaddr'])],
  'mqtt.conf': ['mqtt.strict_mode'],
  'retainer.conf': ['retainer.backend.storage_type'],
  'modules.conf': [
    ...without('force_gc', ['count', 'bytes']),
    'force_shutdown.max_mailbox_size',
    ...without('overload_protection', ['backoff_delay', 'backoff_gc', 'backoff_hibernation', 'backoff_new_conn']),
    'sysmon.os.procmem_high_watermark',
    ...without('sysmon.vm', ['process_check_interval', 'process_high_watermark', 'process_low_watermark', 'long_gc', 'long_schedule', 'large_heap', 'busy_dist_port', 'busy_port']),
    'durable_sessions.enable',
  ],
  'node-log.conf': [
    ...without('node', ['cookie', 'max_ports', 'dist_buffer_size', 'global_gc_interval']),
    ...without('cluster', ['name', 'discovery_strategy', 'autoheal', 'static.seeds']),
    ...without('rpc', ['port_discovery', 'client_num']),
  ],
  'dashboard-prometheus.conf': [
    ...without('prometheus.collectors', ['mnesia', 'vm_dist', 'vm_memory', 'vm_msacc', 'vm_statistics', 'vm_system_info']),
  ],
  'ratelimit-psk.conf': ['psk_authentication.chunk_size', 'limiter.max_conn_rate'],
  'auth.conf': [],
}
EXPECTED['emqx.conf'] = ['listeners.conf', 'mqtt.conf', 'retainer.conf', 'modules.conf', 'auth.conf'].flatMap((f) => EXPECTED[f]!)

for (const [name, keys] of Object.entries(EXPECTED)) {
  if (name === 'node-log.conf') continue
  t.test(`${name} starts, with one notice per key set that has no effect`, async (t) => {
    const { broker, notices, lines } = await start(t, name)
    t.ok(broker.listeners.some((l) => l.running), 'listeners are up')
    t.same([...notices].sort(), [...keys].sort(), 'the keys noticed')
    if (keys.length === 0) return
    const line = lines.find((l) => l.key === keys[0])
    // emqx.conf's keys are in the files it includes.
    t.match(line?.msg, new RegExp(`^${etc.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/[\\w-]+\\.conf:\\d+:\\d+: ${keys[0]!.replace(/\./g, '\\.')}: accepted without effect: `), 'a notice names file:line:column, the key and why')
  })
}

t.test('the listeners of the four types accept clients, TLS with the certificates ${EMQX_ETC_DIR} names', async (t) => {
  const { broker } = await start(t, 'listeners.conf')
  const ca = pki.ca.certPem
  const urls = {
    tcp: `mqtt://127.0.0.1:${broker.port('tcp')}`,
    ssl: `mqtts://127.0.0.1:${broker.port('ssl')}`,
    ws: `ws://127.0.0.1:${broker.port('ws')}/mqtt`,
    wss: `wss://127.0.0.1:${broker.port('wss')}/mqtt`,
  }
  for (const [type, url] of Object.entries(urls)) {
    const client = await mqtt.connectAsync(url, { ca, reconnectPeriod: 0, connectTimeout: 5000, clientId: `c-${type}` })
    t.ok(client.connected, `${type} connected`)
    await end(client)
  }
})

t.test('retainer.backend.max_retained_messages = 2 keeps two retained messages', async (t) => {
  // $SYS messages are retained too: without them the two places are the test's.
  const { broker } = await start(t, 'retainer.conf', { env: { EMQX_SYS_TOPICS__SYS_MSG_INTERVAL: 'disabled', EMQX_SYS_TOPICS__SYS_HEARTBEAT_INTERVAL: 'disabled' } })
  const port = broker.port('tcp')
  const { client: pub } = await connectCollecting(port, { clientId: 'pub' })
  t.teardown(() => end(pub, true))
  for (const n of [1, 2, 3]) await pub.publishAsync(`r/${n}`, `m${n}`, { qos: 1, retain: true })
  const { client: sub, got } = await connectCollecting(port, { clientId: 'sub' })
  t.teardown(() => end(sub, true))
  await sub.subscribeAsync('r/#', { qos: 1 })
  const messages = await got.waitFor(2)
  // A third would have come right behind the two: publish a marker and see that it is next.
  await pub.publishAsync('r/marker', 'x', { qos: 1 })
  await got.waitFor(3)
  t.same(got.messages.map((m) => m.topic), ['r/1', 'r/2', 'r/marker'], 'the third retained message was not stored')
  t.equal(messages.length, 3)
})

t.test('prometheus.enable_basic_auth = true: the scrape endpoint asks for an API key', async (t) => {
  const { broker } = await start(t, 'dashboard-prometheus.conf')
  const base = `http://127.0.0.1:${broker.port('api')}`
  t.equal((await call(base, '/api/v5/prometheus/stats')).status, 401, 'refused without credentials')
  const ok = await call(base, '/api/v5/prometheus/stats', { auth: 'prometheus-key:prometheus-secret' })
  t.equal(ok.status, 200, 'served with an API key')
  t.match(ok.text, /emqx_connections_count/)
})

t.test('banned.bootstrap_file: the bans of ${EMQX_ETC_DIR}/banned.csv are in force', async (t) => {
  const { broker } = await start(t, 'auth.conf')
  t.match(broker.core.banned.get('clientid', 'banned-by-file'), { reason: 'imported at start', by: 'ops', until: Infinity })
  t.ok(broker.core.banned.check({ clientId: 'c', username: 'robot-7', remoteAddress: '127.0.0.1' }), 'the user name pattern')
})

t.test('TLS-PSK with the init_file ${EMQX_ETC_DIR} names', async (t) => {
  const { broker } = await start(t, 'ratelimit-psk.conf')
  const socket = tlsConnect({
    host: '127.0.0.1',
    port: broker.port('ssl'),
    ciphers: 'PSK-AES256-GCM-SHA384',
    maxVersion: 'TLSv1.2',
    checkServerIdentity: () => undefined,
    pskCallback: () => ({ identity: 'device1', psk: Buffer.from('0123456789abcdef0123456789abcdef', 'hex') }),
  })
  t.teardown(() => socket.destroy())
  await new Promise<void>((resolve, reject) => { socket.once('secureConnect', resolve); socket.once('error', reject) })
  t.equal(socket.getCipher().name, 'PSK-AES256-GCM-SHA384')
})

t.test('node-log.conf: notices go to the unnamed log.file handler (${EMQX_LOG_DIR}/emqx.log), timestamps at time_offset +08:00', async (t) => {
  const logDir = join(t.testdir({}), 'log')
  const { broker } = await start(t, 'node-log.conf', { logger: false, env: { EMQX_LOG_DIR: logDir } })
  t.ok(broker.listeners.some((l) => l.running), 'listeners are up')
  const path = join(logDir, 'emqx.log')
  let text = ''
  for (const deadline = Date.now() + 3000; Date.now() < deadline;) {
    text = (() => { try { return readFileSync(path, 'utf8') } catch { return '' } })()
    if (EXPECTED['node-log.conf']!.every((k) => text.includes(` ${k}: accepted without effect`))) break
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  const notices = text.split('\n').filter((l) => l.includes('accepted without effect'))
  t.equal(notices.length, EXPECTED['node-log.conf']!.length, 'one line per key')
  for (const key of EXPECTED['node-log.conf']!) t.ok(notices.some((l) => l.includes(` ${key}: accepted without effect`)), key)
  t.ok(notices.every((l) => /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00 \[notice\] /.test(l)), 'timestamps are at +08:00')
  t.match(text, /node\.cookie: accepted without effect: Culex nodes do not use Erlang cookies\./)
})

t.test('a key EMQX does not have is still refused with file:line:column', async (t) => {
  const file = join(t.testdir({ 'typo.conf': 'flapping_detect {\n  max_cout = 15\n}\n' }), 'typo.conf')
  t.throws(() => loadConfig({ file, env: {} }), { message: `${file}:2:14: unknown key flapping_detect.max_cout` })
})
