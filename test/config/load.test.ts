import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { CulexError } from '../../src/errors.js'

const BASE = new URL('../../etc/base.hocon', import.meta.url).pathname

t.test('etc/base.hocon states exactly the defaults, and turns on etc/acl.conf as EMQX ships it', async (t) => {
  const fromFile = loadConfig({ file: BASE, env: {} }).config
  const defaults = loadConfig({ config: {}, env: {} }).config
  t.same(fromFile.authorization.sources, [{ type: 'file', enable: true, path: 'etc/acl.conf' }])
  t.same(defaults.authorization.sources, [], 'a broker configured in code has no sources unless given')
  t.same({ ...fromFile, authorization: { ...fromFile.authorization, sources: [] } }, defaults)
  t.equal(defaults.mqtt.max_packet_size, 1024 * 1024)
  t.equal(defaults.mqtt.idle_timeout, 15_000)
  t.equal(defaults.mqtt.max_mqueue_len, 1000)
  t.same(defaults.listeners.tcp.default!.bind, { host: '0.0.0.0', port: 1883 })
  t.same(defaults.listeners.ws.default!.bind, { host: '0.0.0.0', port: 8083 })
  t.equal(defaults.listeners.ws.default!.websocket.mqtt_path, '/mqtt')
})

t.test('values in EMQX notation are converted', async (t) => {
  const { config } = loadConfig({
    config: 'mqtt { max_packet_size = 64KB, idle_timeout = 1m, max_subscriptions = 10, server_keepalive = 30s }\nlisteners.tcp.x.bind = ":1999"',
    env: {},
  })
  t.equal(config.mqtt.max_packet_size, 65536)
  t.equal(config.mqtt.idle_timeout, 60_000)
  t.equal(config.mqtt.max_subscriptions, 10)
  t.equal(config.mqtt.server_keepalive, 30_000)
  t.same(config.listeners.tcp.x!.bind, { host: '0.0.0.0', port: 1999 })
  t.notOk(config.listeners.tcp.default, 'naming listeners replaces the default set')
})

function failure (fn: () => unknown): CulexError {
  try { fn() } catch (err) { if (err instanceof CulexError) return err; throw err }
  throw new Error('expected a CulexError')
}

t.test('errors name file, line, column and key', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'bad.hocon')
  writeFileSync(file, 'node.name = "x"\nmqtt {\n  max_packt_size = 2\n}\n')
  const unknown = failure(() => loadConfig({ file, env: {} }))
  t.equal(unknown.code, 'CULEX_ERR_CONFIG_INVALID')
  t.match(unknown.message, `${file}:3:`)
  t.match(unknown.message, 'unknown key mqtt.max_packt_size')

  writeFileSync(file, 'mqtt {\n  max_inflight = lots\n}\n')
  const type = failure(() => loadConfig({ file, env: {} }))
  t.match(type.message, `${file}:2:`)
  t.match(type.message, 'mqtt.max_inflight: expected an integer')

  writeFileSync(file, 'mqtt {\n  idle_timeout = 15x\n}\n')
  t.match(failure(() => loadConfig({ file, env: {} })).message, /bad\.hocon:2:\d+: mqtt\.idle_timeout: expected a duration/)

  writeFileSync(file, 'mqtt {\n  max_inflight = 3\n')
  const syntax = failure(() => loadConfig({ file, env: {} }))
  t.equal(syntax.code, 'CULEX_ERR_CONFIG_PARSE')
  t.match(syntax.message, `${file}:`)

  const missing = failure(() => loadConfig({ file: join(dir, 'nope.hocon'), env: {} }))
  t.equal(missing.code, 'CULEX_ERR_CONFIG_FILE')
  t.match(missing.message, 'nope.hocon')
})

t.test('EMQX_ and CULEX_ environment overrides', async (t) => {
  const loaded = loadConfig({
    file: BASE,
    env: {
      EMQX_LISTENERS__TCP__DEFAULT__BIND: '0.0.0.0:9883',
      EMQX_MQTT__MAX_INFLIGHT: '10',
      CULEX_MQTT__MAX_INFLIGHT: '20',
      EMQX_MQTT__RETAIN_AVAILABLE: 'false',
      EMQX_NODE_COOKIE_FILE: 'x',
      PATH: '/usr/bin',
    },
  })
  t.same(loaded.config.listeners.tcp.default!.bind, { host: '0.0.0.0', port: 9883 })
  t.equal(loaded.config.mqtt.max_inflight, 20, 'CULEX_ wins over EMQX_')
  t.equal(loaded.config.mqtt.retain_available, false)
  t.ok(loaded.overrides.includes('EMQX_LISTENERS__TCP__DEFAULT__BIND'))
  t.same(loaded.ignored, ['EMQX_NODE_COOKIE_FILE'])

  const bad = failure(() => loadConfig({ file: BASE, env: { EMQX_MQTT__MAX_INFLIGHT: 'many', EMQX_MQTT__NO_SUCH_KEY: '1' } }))
  t.match(bad.message, 'env:EMQX_MQTT__MAX_INFLIGHT')
  t.match(bad.message, 'unknown key mqtt.no_such_key')
})
