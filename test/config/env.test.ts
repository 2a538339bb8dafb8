import t from 'tap'
import { applyEnvOverrides, readEnvOverrides } from '../../src/config/env.js'
import { parseHocon, type Origin } from '../../src/config/hocon/index.js'

t.test('readEnvOverrides: prefix stripped, split on __, lower-cased, values parsed as HOCON', async (t) => {
  const overrides = readEnvOverrides({
    EMQX_LISTENERS__SSL__DEFAULT__BIND: '0.0.0.0:9883',
    EMQX_MQTT__MAX_PACKET_SIZE: '1MB',
    EMQX_NODE__PROCESS_LIMIT: '2097152',
    EMQX_LOG__CONSOLE__ENABLE: 'true',
    EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__VERSIONS: '[tlsv1.3, tlsv1.2]',
    EMQX_DASHBOARD: '{ listeners.http.bind = 18083 }',
    EMQX_NODE__COOKIE: '"quoted"',
    EMQX_BROKEN: '[1, 2',
    EMQX_SPACED: 'hello world',
  })
  t.strictSame(overrides, [
    { name: 'EMQX_BROKEN', path: ['broken'], value: '[1, 2' },
    { name: 'EMQX_DASHBOARD', path: ['dashboard'], value: { listeners: { http: { bind: 18083 } } } },
    { name: 'EMQX_SPACED', path: ['spaced'], value: 'hello world' },
    { name: 'EMQX_MQTT__MAX_PACKET_SIZE', path: ['mqtt', 'max_packet_size'], value: '1MB' },
    { name: 'EMQX_NODE__COOKIE', path: ['node', 'cookie'], value: 'quoted' },
    { name: 'EMQX_NODE__PROCESS_LIMIT', path: ['node', 'process_limit'], value: 2097152 },
    { name: 'EMQX_LOG__CONSOLE__ENABLE', path: ['log', 'console', 'enable'], value: true },
    { name: 'EMQX_LISTENERS__SSL__DEFAULT__BIND', path: ['listeners', 'ssl', 'default', 'bind'], value: '0.0.0.0:9883' },
    { name: 'EMQX_LISTENERS__SSL__DEFAULT__SSL_OPTIONS__VERSIONS', path: ['listeners', 'ssl', 'default', 'ssl_options', 'versions'], value: ['tlsv1.3', 'tlsv1.2'] },
  ], 'parents before children, then by name; a value that does not parse stays the raw string')
})

t.test('readEnvOverrides: which variables count', async (t) => {
  const names = (env: Record<string, string | undefined>, prefixes?: string[]) => readEnvOverrides(env, prefixes).map((o) => o.name)
  t.strictSame(names({ EMQX_LOG: 'x', EMQX_LOG_DIR: '/var/log', HOME: '/h', emqx_lower: 'x', EMQX_: 'x', EMQX_UNSET: undefined }), ['EMQX_LOG', 'EMQX_LOG_DIR'])
  t.strictSame(names({ EMQX_A____B: '1', EMQX_A__: '1', EMQX___A: '1', EMQX_A__B: '1' }), ['EMQX_A__B'], 'empty path elements are skipped')
  t.strictSame(names({ MY_A: '1', EMQX_B: '2' }, ['MY_']), ['MY_A'])
  t.strictSame(readEnvOverrides({ EMQX_LOG_DIR: '/var/log' })[0].path, ['log_dir'])
})

t.test('readEnvOverrides: CULEX_ variables come after EMQX_ ones', async (t) => {
  const overrides = readEnvOverrides({
    CULEX_A__B: 'culex',
    EMQX_A__B: 'emqx',
    CULEX_A: '{ c = 1 }',
    EMQX_A__B__C: 'deep',
  })
  t.strictSame(overrides.map((o) => o.name), ['EMQX_A__B', 'EMQX_A__B__C', 'CULEX_A', 'CULEX_A__B'])
  const tree: Record<string, unknown> = {}
  applyEnvOverrides(tree, overrides)
  t.strictSame(tree, { a: { b: 'culex', c: 1 } })
})

t.test('readEnvOverrides: substitutions in values read the environment', async (t) => {
  const [o] = readEnvOverrides({ EMQX_NODE__DATA_DIR: '${HOME}"/data"', HOME: '/home/emqx' })
  t.equal(o.value, '/home/emqx/data')
  const [raw] = readEnvOverrides({ EMQX_NODE__DATA_DIR: '${NOT_SET}/data' })
  t.equal(raw.value, '${NOT_SET}/data', 'an unknown substitution leaves the raw string')
})

t.test('applyEnvOverrides sets values, creating objects along the path', async (t) => {
  const tree: Record<string, unknown> = { listeners: { tcp: { default: { bind: '0.0.0.0:1883', max_connections: 10 } } }, log: 'x' }
  applyEnvOverrides(tree, [
    { name: 'EMQX_LISTENERS__TCP__DEFAULT__BIND', path: ['listeners', 'tcp', 'default', 'bind'], value: '0.0.0.0:1884' },
    { name: 'EMQX_LISTENERS__SSL__DEFAULT__BIND', path: ['listeners', 'ssl', 'default', 'bind'], value: '0.0.0.0:9883' },
    { name: 'EMQX_LOG__LEVEL', path: ['log', 'level'], value: 'debug' },
  ])
  t.strictSame(tree, {
    listeners: {
      tcp: { default: { bind: '0.0.0.0:1884', max_connections: 10 } },
      ssl: { default: { bind: '0.0.0.0:9883' } },
    },
    log: { level: 'debug' },
  }, 'a non-object in the way is replaced by an object')
})

t.test('applyEnvOverrides merges an object value into an existing object; anything else replaces', async (t) => {
  const tree: Record<string, unknown> = { a: { x: 1, n: { p: 1, q: 2 } }, b: { y: 1 }, c: [1, 2] }
  applyEnvOverrides(tree, [
    { name: 'EMQX_A', path: ['a'], value: { n: { q: 3 }, z: 4 } },
    { name: 'EMQX_B', path: ['b'], value: 'scalar' },
    { name: 'EMQX_C', path: ['c'], value: [3] },
  ])
  t.strictSame(tree, { a: { x: 1, n: { p: 1, q: 3 }, z: 4 }, b: 'scalar', c: [3] })
})

t.test('applyEnvOverrides records origins', async (t) => {
  const { value, origins } = parseHocon('a { x = 1, old { deep = 1 } }\nb { y = 2 }\nc = [1, 2]', { file: 'main.conf', env: {} })
  applyEnvOverrides(value, [
    { name: 'EMQX_A', path: ['a'], value: { n: { q: 3 }, old: 5 } },
    { name: 'EMQX_B', path: ['b'], value: 'scalar' },
    { name: 'EMQX_D__E', path: ['d', 'e'], value: [7] },
  ], origins)
  const env = (name: string): Origin => ({ file: `env:${name}`, line: 0, column: 0 })
  t.strictSame(Object.fromEntries(origins), {
    a: env('EMQX_A'),
    'a.x': { file: 'main.conf', line: 1, column: 9 },
    'a.old': env('EMQX_A'),
    'a.n': env('EMQX_A'),
    'a.n.q': env('EMQX_A'),
    b: env('EMQX_B'),
    c: { file: 'main.conf', line: 3, column: 5 },
    'c.0': { file: 'main.conf', line: 3, column: 6 },
    'c.1': { file: 'main.conf', line: 3, column: 9 },
    d: env('EMQX_D__E'),
    'd.e': env('EMQX_D__E'),
    'd.e.0': env('EMQX_D__E'),
  }, 'paths that no longer exist lose their origin')
})

t.test('applyEnvOverrides does not touch prototypes', async (t) => {
  const tree: Record<string, unknown> = {}
  applyEnvOverrides(tree, [
    { name: 'EMQX_CONSTRUCTOR__X', path: ['constructor', 'x'], value: 1 },
    { name: 'EMQX___PROTO__', path: ['__proto__'], value: { polluted: true } },
  ])
  t.strictSame(Object.keys(tree), ['constructor', '__proto__'])
  t.equal(Object.getPrototypeOf(tree), Object.prototype)
  t.equal(({} as Record<string, unknown>).polluted, undefined)
  t.equal(Object.prototype.constructor, Object)
})

t.test('the value is copied, so one override list can be applied twice', async (t) => {
  const overrides = readEnvOverrides({ EMQX_A: '{ l = [1] }' })
  const one: Record<string, unknown> = {}
  const two: Record<string, unknown> = {}
  applyEnvOverrides(one, overrides)
  applyEnvOverrides(two, overrides)
  ;((one.a as { l: number[] }).l).push(2)
  t.strictSame(two, { a: { l: [1] } })
})
