// EMQX 5.8 compatibility of the configuration: file paths written "${EMQX_ETC_DIR}/...", HOCON environment
// substitution and includes through the loader, keys accepted without effect (one notice each), EMQX's value forms.
import { join } from 'node:path'
import t from 'tap'
import { configRows } from '../../src/config/docs.js'
import { interpolatePath, loadConfig } from '../../src/config/load.js'
import { keysWithoutEffect } from '../../src/config/notices.js'
import { timestamp } from '../../src/log.js'

const load = (text: string, env: Record<string, string> = {}) => loadConfig({ config: text, env })

t.test('a file path "${EMQX_ETC_DIR}/..." (quoted: HOCON leaves it) is the variable\'s directory, as EMQX does', async (t) => {
  const env = { EMQX_ETC_DIR: '/etc/emqx' }
  const { config } = load([
    'listeners.ssl.default.ssl_options {',
    '  certfile = "${EMQX_ETC_DIR}/certs/cert.pem"',
    '  keyfile = "$EMQX_ETC_DIR/certs/key.pem"',
    '  cacertfile = "${NOT_SET}/certs/cacert.pem"',
    '}',
    'listeners.tcp.default.mountpoint = "${clientid}/"',
    'authorization.sources = [{ type = file, path = "${EMQX_ETC_DIR}/acl.conf" }]',
    'psk_authentication.init_file = "${EMQX_ETC_DIR}/psk.txt"',
    'log.file.default.path = "${EMQX_LOG_DIR}/emqx.log"',
  ].join('\n'), env)
  const ssl = config.listeners.ssl.default!.ssl_options
  t.equal(ssl.certfile, '/etc/emqx/certs/cert.pem')
  t.equal(ssl.keyfile, '/etc/emqx/certs/key.pem', '$VAR without braces too')
  t.equal(ssl.cacertfile, '${NOT_SET}/certs/cacert.pem', 'an unknown variable leaves the path as written')
  t.equal(config.listeners.tcp.default!.mountpoint, '${clientid}/', 'only file paths: a mountpoint keeps its placeholder')
  t.match(config.authorization.sources[0], { type: 'file', path: '/etc/emqx/acl.conf' })
  t.equal(config.psk_authentication.init_file, '/etc/emqx/psk.txt')
  t.equal(config.log.file.default!.path, 'log/emqx.log', 'EMQX_LOG_DIR unset: log')
})

t.test('EMQX_ETC_DIR unset: the configuration file\'s directory; unquoted ${VAR} and ${?VAR} are HOCON\'s substitutions', async (t) => {
  const dir = t.testdir({
    'emqx.conf': [
      'include "conf.d/tls.conf"',
      'node.name = ${?EMQX_NODE_NAME}',
      'api_key.bootstrap_file = ${HOME}"/keys.txt"',
    ].join('\n'),
    'conf.d': { 'tls.conf': 'listeners.ssl.default.ssl_options.certfile = "${EMQX_ETC_DIR}/certs/cert.pem"\n' },
  })
  const file = join(dir, 'emqx.conf')
  const { config, origins } = loadConfig({ file, env: { HOME: '/home/me' } })
  t.equal(config.listeners.ssl.default!.ssl_options.certfile, join(dir, 'certs/cert.pem'), 'relative to the main file, as EMQX\'s etc')
  t.equal(config.node.name, 'culex@127.0.0.1', '${?EMQX_NODE_NAME} unset: the default')
  t.equal(config.api_key.bootstrap_file, '/home/me/keys.txt')
  t.strictSame(origins.get('listeners.ssl.default.ssl_options.certfile'), { file: join(dir, 'conf.d', 'tls.conf'), line: 1, column: 46 }, 'an included key names its file')
  t.equal(loadConfig({ file, env: { HOME: '/home/me', EMQX_NODE_NAME: 'emqx@10.0.0.1' } }).config.node.name, 'emqx@10.0.0.1')
})

t.test('interpolatePath', async (t) => {
  const dirs = (name: string) => ({ A: '/a', B: '/b/' } as Record<string, string>)[name]
  t.equal(interpolatePath('${A}/x/y', dirs), '/a/x/y')
  t.equal(interpolatePath('$A\\x', dirs), '/a/x')
  t.equal(interpolatePath('${B}', dirs), '/b/')
  t.equal(interpolatePath('${C}/x', dirs), '${C}/x')
  t.equal(interpolatePath('x/${A}', dirs), 'x/${A}', 'only a leading variable')
})

t.test('keys accepted without effect: one line per key set, none for implemented keys or keys left unset', async (t) => {
  const dir = t.testdir({
    'emqx.conf': [
      'node { cookie = "abc", name = "emqx@127.0.0.1" }',
      'flapping_detect { enable = true, max_count = 3 }',
      'alarm.actions = [log, publish]',
      'prometheus.push_gateway.headers { Authorization = "x" }',
      'mqtt.max_packet_size = 2MB',
      'log.file { level = warning, rotation_size = 10MB }',
    ].join('\n'),
  })
  const file = join(dir, 'emqx.conf')
  const { origins } = loadConfig({ file, env: { EMQX_FORCE_GC__COUNT: '100' } })
  const keys = keysWithoutEffect(origins)
  t.strictSame(keys.map((k) => k.path).sort(), [
    'force_gc.count',
    'node.cookie',
  ])
  const line = (path: string) => keys.find((k) => k.path === path)?.line
  t.equal(line('node.cookie'), `${file}:1:17: node.cookie: accepted without effect: Culex nodes do not use Erlang cookies.`)
  t.notOk(line('alarm.actions'), 'alarm is implemented: no notice')
  t.notOk(line('flapping_detect.max_count'), 'flapping_detect is implemented: no notice')
  t.notOk(line('prometheus.push_gateway.headers.Authorization'), 'the push gateway is implemented: no notice')
  t.notOk(line('log.file.rotation_size'), 'log rotation is implemented: no notice')
  t.match(line('force_gc.count'), /^env:EMQX_FORCE_GC__COUNT: force_gc\.count: accepted without effect: Erlang collects garbage per process/)
})

t.test('docs mark each key implemented, no effect (never) or not yet implemented', async (t) => {
  const effect = (path: string) => {
    const row = configRows().find((r) => r.path === path)
    return row?.effect?.status ?? (row ? 'implemented' : 'absent')
  }
  t.equal(effect('mqtt.max_packet_size'), 'implemented')
  t.equal(effect('log.console.time_offset'), 'implemented')
  t.equal(effect('retainer.backend.max_retained_messages'), 'implemented')
  t.equal(effect('prometheus.enable_basic_auth'), 'implemented')
  t.equal(effect('node.cookie'), 'never')
  t.equal(effect('rpc.port_discovery'), 'never', 'a section\'s mark covers its keys')
  t.equal(effect('mqtt.strict_mode'), 'never')
  t.equal(effect('listeners.ssl.<name>.ssl_options.hibernate_after'), 'never', 'a doc line saying "no effect" counts')
  t.equal(effect('flapping_detect.ban_time'), 'implemented')
  t.equal(effect('delayed.max_delayed_messages'), 'implemented')
  t.equal(effect('mqtt.exclusive_subscription'), 'implemented')
  t.equal(effect('sysmon.os.cpu_check_interval'), 'implemented')
  t.equal(effect('prometheus.push_gateway.url'), 'implemented')
  t.equal(effect('prometheus.push_gateway_server'), 'implemented', 'EMQX 5.0\'s form too')
  t.equal(effect('mqtt.shared_subscription_initial_sticky_pick'), 'implemented')
  t.equal(effect('mqtt.mqueue_priorities'), 'implemented')
  t.equal(effect('mqtt.mqueue_default_priority'), 'implemented')
  t.equal(effect('log.throttling.msgs'), 'implemented')
  t.equal(effect('log.console.burst_limit.max_count'), 'implemented')
  t.equal(effect('sys_topics.sys_event_messages.client_connected'), 'implemented')
  t.equal(effect('mqtt.subscription_message_filter'), 'absent', 'not an EMQX 5.8 key')
})

t.test('EMQX\'s value forms', async (t) => {
  const { config } = load('mqtt { retry_interval = infinity, idle_timeout = infinity }\nretainer.backend.max_retained_messages = 7\nlog.file { level = info }\nlog.file.default.path = "x.log"\nlog.file.audit { enable = true, path = "a.log" }')
  t.equal(config.mqtt.retry_interval, 0, 'retry_interval = infinity (EMQX\'s default): resend on reconnect only')
  t.equal(config.mqtt.idle_timeout, Number.POSITIVE_INFINITY)
  t.equal(load('mqtt.max_mqueue_len = 0').config.mqtt.max_mqueue_len, Number.POSITIVE_INFINITY, 'max_mqueue_len = 0: no limit, as EMQX\'s mqueue (MAX_LEN_INFINITY)')
  t.equal(config.retainer.max_retained_messages, 7, 'backend.max_retained_messages applies')
  t.equal(load('retainer { max_retained_messages = 3, backend.max_retained_messages = 7 }').config.retainer.max_retained_messages, 3, 'the top-level key wins')
  t.match(config.log.file, { default: { level: 'info', path: 'x.log' }, audit: { enable: true, path: 'a.log' } }, 'log.file { level } is the handler named default')
  t.throws(() => load('log.console.time_offset = "+8"'), { message: /log\.console\.time_offset: expected system, utc or an offset such as \+08:00/ })
  t.throws(() => load('flapping_detect.window_time = soon'), { message: /flapping_detect\.window_time: expected a duration/ })
  t.throws(() => load('sysmon.os.cpu_high_watermark = 180%'), { message: /sysmon\.os\.cpu_high_watermark: expected a percentage/ })
  t.throws(() => load('rpc.no_such_key = 1'), { message: /unknown key rpc\.no_such_key/ }, 'sections accepted without effect are strict too')
})

t.test('log time_offset: RFC 3339 timestamps in the zone asked for', async (t) => {
  const ms = Date.UTC(2026, 0, 1, 23, 30, 0, 5)
  t.equal(timestamp(ms, 'utc'), '2026-01-01T23:30:00.005Z')
  t.equal(timestamp(ms, '+08:00'), '2026-01-02T07:30:00.005+08:00')
  t.equal(timestamp(ms, '-02:30'), '2026-01-01T21:00:00.005-02:30')
  t.equal(timestamp(ms, '+00:00'), '2026-01-01T23:30:00.005Z')
  const local = -new Date(ms).getTimezoneOffset()
  t.equal(timestamp(ms, 'system'), local === 0 ? '2026-01-01T23:30:00.005Z' : timestamp(ms, `${local < 0 ? '-' : '+'}${String(Math.floor(Math.abs(local) / 60)).padStart(2, '0')}:${String(Math.abs(local) % 60).padStart(2, '0')}`), 'system: the host\'s offset')
})
