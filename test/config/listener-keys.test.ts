// EMQX 5.8's listener keys (listeners.{tcp,ssl,ws,wss}.<name>, dashboard.listeners.http|https): all accepted,
// the ones without effect named by culex check and at start, keys EMQX does not have still refused.
import { join } from 'node:path'
import t from 'tap'
import { checkConfigFile } from '../../src/config/check.js'
import { loadConfig } from '../../src/config/load.js'
import { createBroker } from '../../src/index.js'
import { memoryLog } from '../helpers.js'

// Every key of EMQX 5.8's mqtt_listener, tcp_opts, ws_opts and listener_ssl_opts, with values EMQX accepts.
const TCP_OPTIONS = `tcp_options {
    active_n = 100, backlog = 1024, send_timeout = 15s, send_timeout_close = true, recbuf = 2KB, sndbuf = 4KB
    buffer = 4KB, high_watermark = 1MB, nodelay = true, nolinger = false, reuseaddr = true, keepalive = "none"
  }`
const COMMON = `acceptors = 16, max_connections = infinity, mountpoint = "", zone = default, enable_authn = true
  max_conn_rate = "1000/s", messages_rate = "1000/s", bytes_rate = "1MB/s"
  access_rules = ["allow 10.0.0.0/8, allow 127.0.0.1", "deny all"], proxy_protocol = false, proxy_protocol_timeout = 3s
  limiter { bytes { rate = infinity, burst = 0 }, client { messages { rate = infinity, divisible = true } } }`
const SSL_OPTIONS = `cacertfile = "ca.pem", certfile = "cert.pem", keyfile = "key.pem", verify = verify_none, reuse_sessions = true
    depth = 10, password = "", versions = [tlsv1.3, tlsv1.2], ciphers = [], secure_renegotiate = true, log_level = notice
    hibernate_after = 5s, dhfile = "dh.pem", fail_if_no_peer_cert = false, honor_cipher_order = true
    client_renegotiation = true, handshake_timeout = 15s, cacerts = false, user_lookup_fun = "emqx_tls_psk:lookup"`
const WEBSOCKET = `websocket {
    mqtt_path = "/mqtt", mqtt_piggyback = multiple, compress = false, idle_timeout = 7200s, max_frame_size = infinity
    fail_if_no_subprotocol = true, supported_subprotocols = "mqtt, mqtt-v3, mqtt-v3.1.1, mqtt-v5"
    check_origin_enable = false, allow_origin_absence = true, check_origins = "http://localhost:18083, http://127.0.0.1:18083"
    proxy_address_header = "x-forwarded-for", proxy_port_header = "x-forwarded-port", validate_utf8 = true
    deflate_opts { level = default, mem_level = 8, strategy = default, server_context_takeover = takeover
      client_context_takeover = takeover, server_max_window_bits = 15, client_max_window_bits = 15 }
  }`
const EMQX_LISTENERS = `listeners.tcp.default {
  bind = "127.0.0.1:0", ${COMMON}
  ${TCP_OPTIONS}
}
listeners.ssl.default {
  enable = false, bind = "127.0.0.1:0", ${COMMON}
  ${TCP_OPTIONS}
  ssl_options { ${SSL_OPTIONS}, gc_after_handshake = false, enable_crl_check = false
    ocsp { enable_ocsp_stapling = false, refresh_interval = 5m, refresh_http_timeout = 15s } }
}
listeners.ws.default {
  bind = "127.0.0.1:0", ${COMMON}
  ${TCP_OPTIONS}
  ${WEBSOCKET}
}
listeners.wss.default {
  enable = false, bind = "127.0.0.1:0", ${COMMON}
  ${TCP_OPTIONS}
  ${WEBSOCKET}
  ssl_options { ${SSL_OPTIONS} }
}
dashboard.listeners.http {
  enable = false, bind = 0, num_acceptors = 2, max_connections = 512, backlog = 1024, send_timeout = 10s
  inet6 = false, ipv6_v6only = false, proxy_header = false
}
dashboard.listeners.https {
  enable = false, bind = 18084, num_acceptors = 2, max_connections = 512, backlog = 1024, send_timeout = 10s
  inet6 = false, ipv6_v6only = false, proxy_header = false
  ssl_options { ${SSL_OPTIONS} }
}
durable_storage.backend = memory
`

t.test('every EMQX 5.8 listener key is accepted, with its value read as EMQX reads it', async (t) => {
  const { config } = loadConfig({ config: EMQX_LISTENERS, env: {} })
  const tcp = config.listeners.tcp.default!
  t.same(tcp.access_rules.map((r) => r.text), ['allow 10.0.0.0/8', 'allow 127.0.0.1', 'deny all'], 'access_rules split at commas')
  t.same(tcp.access_rules[1]!.net, { address: '127.0.0.1', prefix: 32, family: 'ipv4' })
  t.equal(tcp.tcp_options.send_timeout, 15_000)
  t.equal(tcp.tcp_options.high_watermark, 1024 * 1024)
  t.equal(tcp.tcp_options.recbuf, 2048)
  const ws = config.listeners.ws.default!.websocket
  t.same(ws.supported_subprotocols, ['mqtt', 'mqtt-v3', 'mqtt-v3.1.1', 'mqtt-v5'])
  t.same(ws.check_origins, ['http://localhost:18083', 'http://127.0.0.1:18083'])
  t.equal(ws.idle_timeout, 7_200_000)
  t.equal(ws.max_frame_size, Number.POSITIVE_INFINITY)
  t.equal(config.listeners.wss.default!.ssl_options.client_renegotiation, true)
  t.equal(config.dashboard.listeners.http.max_connections, 512)
  t.equal(config.dashboard.listeners.https.bind.port, 18084)
})

t.test('defaults are EMQX\'s', async (t) => {
  const { config } = loadConfig({ config: 'listeners.tcp.default {}\nlisteners.ws.default {}', env: {} })
  const tcp = config.listeners.tcp.default!
  t.same(tcp.access_rules, [{ allow: true, net: null, text: 'allow all' }])
  t.same([tcp.acceptors, tcp.zone, tcp.proxy_protocol, tcp.proxy_protocol_timeout], [16, 'default', false, 3000])
  t.same([tcp.tcp_options.send_timeout, tcp.tcp_options.send_timeout_close, tcp.tcp_options.high_watermark, tcp.tcp_options.buffer, tcp.tcp_options.active_n],
    [15_000, true, 1024 * 1024, 4096, 100])
  const ws = config.listeners.ws.default!.websocket
  t.same([ws.mqtt_piggyback, ws.compress, ws.idle_timeout, ws.max_frame_size, ws.check_origin_enable, ws.allow_origin_absence, ws.validate_utf8],
    ['multiple', false, 7_200_000, Number.POSITIVE_INFINITY, false, true, true])
  t.equal(ws.proxy_address_header, undefined, 'X-Forwarded-For is trusted only when configured')
  t.same(config.dashboard.listeners.http.max_connections, 512)
})

t.test('EMQX\'s old key enabled = false turns a listener off', async (t) => {
  const { config } = loadConfig({ config: 'listeners.tcp.default { enabled = false }\nlisteners.ws.default { enabled = true }', env: {} })
  t.equal(config.listeners.tcp.default!.enable, false)
  t.equal(config.listeners.ws.default!.enable, true)
})

t.test('keys EMQX does not have, and bad values, are still refused with file:line:column', async (t) => {
  t.throws(() => loadConfig({ config: 'listeners.tcp.default {\n  tcp_options { send_timeout = 5s, sendtimeout = 5s }\n}', env: {} }),
    { message: /<config>:2:50: unknown key listeners\.tcp\.default\.tcp_options\.sendtimeout/ })
  t.throws(() => loadConfig({ config: 'listeners.ws.default.websocket.piggyback = single', env: {} }),
    { message: /<config>:1:44: unknown key listeners\.ws\.default\.websocket\.piggyback/ })
  t.throws(() => loadConfig({ config: 'listeners.tcp.default.limiter.bytes.rat = 1', env: {} }),
    { message: /unknown key listeners\.tcp\.default\.limiter\.bytes\.rat/ })
  t.throws(() => loadConfig({ config: 'listeners.tcp.default {\n  access_rules = ["allow 10.0.0.0/33"]\n}', env: {} }),
    { message: /<config>:2:18: listeners\.tcp\.default\.access_rules: invalid access rule "allow 10\.0\.0\.0\/33"/ })
  t.throws(() => loadConfig({ config: 'listeners.tcp.default.access_rules = ["permit all"]', env: {} }),
    { message: /invalid access rule "permit all"/ })
  t.throws(() => loadConfig({ config: 'listeners.ws.default.websocket.mqtt_piggyback = some', env: {} }),
    { message: /websocket\.mqtt_piggyback/ })
})

t.test('culex check names each listener key without effect (a named type such as limiter once), and not the implemented ones', async (t) => {
  const dir = t.testdir({ 'emqx.hocon': EMQX_LISTENERS })
  const file = join(dir, 'emqx.hocon')
  const { errors, notices } = await checkConfigFile(file, {})
  t.same(errors, [])
  const keys = notices.map((n) => /: ([\w.]+): accepted without effect/.exec(n)?.[1])
  for (const key of ['listeners.tcp.default.acceptors', 'listeners.tcp.default.zone', 'listeners.tcp.default.limiter',
    'listeners.tcp.default.tcp_options.active_n', 'listeners.tcp.default.tcp_options.buffer',
    'listeners.tcp.default.tcp_options.recbuf', 'listeners.tcp.default.tcp_options.sndbuf', 'listeners.tcp.default.tcp_options.reuseaddr',
    'listeners.tcp.default.tcp_options.nolinger', 'listeners.ssl.default.ssl_options.cacerts', 'listeners.wss.default.ssl_options.user_lookup_fun',
    'dashboard.listeners.http.num_acceptors', 'dashboard.listeners.http.send_timeout']) {
    t.ok(keys.includes(key), `${key} named`)
  }
  t.notOk(keys.some((k) => k?.startsWith('listeners.tcp.default.limiter.')), 'the limiter section is one notice')
  t.ok(keys.some((k) => k?.startsWith('dashboard.listeners.https.')), 'the keys of the https section are named')
  for (const key of ['listeners.tcp.default.tcp_options.send_timeout', 'listeners.tcp.default.tcp_options.high_watermark', 'listeners.tcp.default.access_rules',
    'listeners.ws.default.websocket.compress', 'listeners.ws.default.websocket.mqtt_piggyback', 'dashboard.listeners.http.max_connections',
    'listeners.tcp.default.proxy_protocol', 'listeners.tcp.default.proxy_protocol_timeout', 'dashboard.listeners.http.proxy_header']) {
    t.notOk(keys.includes(key), `${key} (implemented) not named`)
  }
  t.match(notices.find((n) => n.includes('listeners.tcp.default.acceptors:')), new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:2:`))
})

t.test('the broker logs one notice per key without effect when it starts', async (t) => {
  const dir = t.testdir({ 'culex.hocon': 'listeners.tcp.default { bind = "127.0.0.1:0", acceptors = 8, tcp_options.active_n = 10 }\nlisteners.ws.default.enable = false\ndashboard.listeners.http.enable = false\ndurable_storage.backend = memory\n' })
  const { log, lines } = memoryLog()
  const broker = await createBroker({ configFile: join(dir, 'culex.hocon'), logger: log })
  t.teardown(() => broker.close())
  const notices = lines.filter((l) => l.level === 35 && String(l.msg).includes('accepted without effect'))
  t.same(notices.map((l) => l.key), ['listeners.tcp.default.acceptors', 'listeners.tcp.default.tcp_options.active_n'])
  t.match(String(notices[0]!.msg), /culex\.hocon:1:\d+: listeners\.tcp\.default\.acceptors: accepted without effect: /)
})
