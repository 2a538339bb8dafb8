import t from 'tap'
import { parseHocon, parseHoconValue } from '../../src/config/hocon/index.js'

const parse = (text: string) => parseHocon(text, { env: {} }).value

const EMQX = `node { name = "emqx@127.0.0.1", cookie = "emqxsecretcookie", data_dir = "data" }
listeners.tcp.default { bind = "0.0.0.0:1883", max_connections = 1024000 }
listeners.ssl.default {
  bind = "0.0.0.0:8883"
  ssl_options {
    cacertfile = "etc/certs/cacert.pem"
    certfile = "etc/certs/cert.pem"
    keyfile = "etc/certs/key.pem"
    verify = verify_peer
    fail_if_no_peer_cert = true
    versions = [tlsv1.3, tlsv1.2]
    ciphers = ["TLS_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384",]
  }
}
authentication = [
  { mechanism = jwt, from = password, use_jwks = false, algorithm = hmac-based, secret = "emqxsecret", secret_base64_encoded = false,
    verify_claims = { sub = "\${clientid}", username = "\${username}" } }   # \${clientid} inside quotes stays literal
]
authorization { no_match = allow, deny_action = ignore, sources = [ { type = file, enable = true, path = "etc/acl.conf" } ] }
log.console { enable = true, level = warning }
mqtt.max_packet_size = 1MB
dashboard.listeners.http.bind = 18083
rule = """{allow, all, subscribe, ["$SYS/#"]}."""
`

t.test('EMQX example config', async (t) => {
  const { value, origins } = parseHocon(EMQX, { file: 'etc/emqx.conf', env: {} })
  t.strictSame(value, {
    node: { name: 'emqx@127.0.0.1', cookie: 'emqxsecretcookie', data_dir: 'data' },
    listeners: {
      tcp: { default: { bind: '0.0.0.0:1883', max_connections: 1024000 } },
      ssl: {
        default: {
          bind: '0.0.0.0:8883',
          ssl_options: {
            cacertfile: 'etc/certs/cacert.pem',
            certfile: 'etc/certs/cert.pem',
            keyfile: 'etc/certs/key.pem',
            verify: 'verify_peer',
            fail_if_no_peer_cert: true,
            versions: ['tlsv1.3', 'tlsv1.2'],
            ciphers: ['TLS_AES_256_GCM_SHA384', 'ECDHE-ECDSA-AES256-GCM-SHA384'],
          },
        },
      },
    },
    authentication: [{
      mechanism: 'jwt',
      from: 'password',
      use_jwks: false,
      algorithm: 'hmac-based',
      secret: 'emqxsecret',
      secret_base64_encoded: false,
      verify_claims: { sub: '${clientid}', username: '${username}' },
    }],
    authorization: {
      no_match: 'allow',
      deny_action: 'ignore',
      sources: [{ type: 'file', enable: true, path: 'etc/acl.conf' }],
    },
    log: { console: { enable: true, level: 'warning' } },
    mqtt: { max_packet_size: '1MB' },
    dashboard: { listeners: { http: { bind: 18083 } } },
    rule: '{allow, all, subscribe, ["$SYS/#"]}.',
  })
  t.strictSame(origins.get('listeners.ssl.default.ssl_options.verify'), { file: 'etc/emqx.conf', line: 9, column: 14 })
  t.strictSame(origins.get('listeners.ssl.default.ssl_options.versions.1'), { file: 'etc/emqx.conf', line: 11, column: 26 })
  t.strictSame(origins.get('authentication.0'), { file: 'etc/emqx.conf', line: 16, column: 3 })
  t.strictSame(origins.get('authentication.0.mechanism'), { file: 'etc/emqx.conf', line: 16, column: 17 })
  t.strictSame(origins.get('authentication.0.verify_claims.sub'), { file: 'etc/emqx.conf', line: 17, column: 29 })
  t.strictSame(origins.get('mqtt.max_packet_size'), { file: 'etc/emqx.conf', line: 21, column: 24 })
  t.strictSame(origins.get('rule'), { file: 'etc/emqx.conf', line: 23, column: 8 })
  t.equal(origins.get('listeners.tcp.default.bind')?.line, 2)
})

t.test('origins: the last write wins, file defaults to <string>', async (t) => {
  const { origins } = parseHocon('a { x = 1 }\na.x = 2\nb = [\n  q\n]', { env: {} })
  t.strictSame(origins.get('a.x'), { file: '<string>', line: 2, column: 7 })
  t.strictSame(origins.get('b'), { file: '<string>', line: 3, column: 5 })
  t.strictSame(origins.get('b.0'), { file: '<string>', line: 4, column: 3 })
  t.notOk(origins.has(''), 'no entry for the root')
})

t.test('repeated keys merge objects deeply; other values replace', async (t) => {
  t.strictSame(parse('a { x = 1, n { p = 1 } }\na { y = 2, n { q = 2 } }'), { a: { x: 1, y: 2, n: { p: 1, q: 2 } } })
  t.strictSame(parse('a { x = 1 }\na = 5'), { a: 5 })
  t.strictSame(parse('a = 5\na { x = 1 }'), { a: { x: 1 } })
  t.strictSame(parse('a = [1, 2]\na = [3]'), { a: [3] })
  t.strictSame(parse('a = 1\na = 2'), { a: 2 })
})

t.test('dotted keys expand into nested objects and merge', async (t) => {
  t.strictSame(parse('a.b.c = 1\na.b.d = 2\na { b { e = 3 } }'), { a: { b: { c: 1, d: 2, e: 3 } } })
  t.strictSame(parse('a = 1\na.b = 2'), { a: { b: 2 } })
  t.strictSame(parse('"a.b" = 1'), { 'a.b': 1 })
  t.strictSame(parse('a."b.c".d = 1'), { a: { 'b.c': { d: 1 } } })
  t.strictSame(parse('"" = 1'), { '': 1 })
  t.strictSame(parse('foo bar = 1'), { 'foo bar': 1 }, 'whitespace inside a key is kept')
  t.strictSame(parse('1.5 = x'), { 1: { 5: 'x' } }, 'a numeric-looking key is still a path')
})

t.test('separators: =, :, or nothing before {', async (t) => {
  t.strictSame(parse('a = 1\nb : 2\nc:3\nd { e = 4 }\nf={g:5}'), { a: 1, b: 2, c: 3, d: { e: 4 }, f: { g: 5 } })
  t.strictSame(parse('{"a": 1, "b": [true, null], "c": {"d": "e"}}'), { a: 1, b: [true, null], c: { d: 'e' } }, 'JSON is HOCON')
})

t.test('fields are separated by newlines or commas; root braces and trailing commas are optional', async (t) => {
  t.strictSame(parse('a = 1, b = 2\nc = 3'), { a: 1, b: 2, c: 3 })
  t.strictSame(parse('{ a = 1, b = 2, }'), { a: 1, b: 2 })
  t.strictSame(parse('\n\n  { a = 1 }  \n\n'), { a: 1 })
  t.strictSame(parse('a { x = 1, }'), { a: { x: 1 } })
  t.strictSame(parse('a = 1\n, b = 2'), { a: 1, b: 2 }, 'a comma may start the next line')
  t.strictSame(parse('\uFEFFa = x\r\nb = "y"\r\nc { d = 1 }\r\n'), { a: 'x', b: 'y', c: { d: 1 } }, 'BOM and CRLF')
  t.strictSame(parse(''), {})
  t.strictSame(parse('# only a comment\n'), {})
})

t.test('unquoted strings', async (t) => {
  t.strictSame(parse('a = emqx@127.0.0.1\nb = 50%\nc = a|b\nd = t/#/*\ne = etc/certs/key.pem\nf = hmac-based\ng = under_score'), {
    a: 'emqx@127.0.0.1', b: '50%', c: 'a|b', d: 't/', e: 'etc/certs/key.pem', f: 'hmac-based', g: 'under_score',
  }, "'#' starts a comment even right after text")
  t.strictSame(parse('a = t/+/x*'), { a: 't/+/x*' })
  t.strictSame(parse('a = hello   world  \nb = one "two" three'), { a: 'hello   world', b: 'one two three' })
  t.strictSame(parse('a = 0.0.0.0:1883\nb { bind: 127.0.0.1:80 }'), { a: '0.0.0.0:1883', b: { bind: '127.0.0.1:80' } })
  t.strictSame(parse('a = ünïcødé'), { a: 'ünïcødé' })
})

t.test('scalar types', async (t) => {
  t.strictSame(parse('a = true\nb = false\nc = null'), { a: true, b: false, c: null })
  t.strictSame(parse('a = on\nb = off\nc = yes\nd = no'), { a: 'on', b: 'off', c: 'yes', d: 'no' }, 'left to the schema')
  t.strictSame(parse('a = 1883\nb = -1\nc = 0.5\nd = 1e3\ne = -2.5E-1\nf = 0'), { a: 1883, b: -1, c: 0.5, d: 1000, e: -0.25, f: 0 })
  t.strictSame(parse('a = 15s\nb = 1MB\nc = 01\nd = 1.\ne = .5\nf = 1 2'), { a: '15s', b: '1MB', c: '01', d: '1.', e: '.5', f: '1 2' })
  t.strictSame(parse('a = "42"\nb = "true"\nc = "null"'), { a: '42', b: 'true', c: 'null' }, 'quoted stays a string')
  t.strictSame(parse('a = true"x"\nb = 1 true'), { a: 'truex', b: '1 true' })
})

t.test('quoted strings', async (t) => {
  t.strictSame(parse(String.raw`a = "tab\there\nq\"b\\s\/u\u00e9\u0041"`), { a: 'tab\there\nq"b\\s/uéA' })
  t.strictSame(parse('a = "# not a comment // nor this"'), { a: '# not a comment // nor this' })
  t.strictSame(parse('a = "{}[]=:,+$"'), { a: '{}[]=:,+$' })
  t.strictSame(parse('a = ""'), { a: '' })
})

t.test('triple-quoted strings are raw and may span lines', async (t) => {
  const { value, origins } = parseHocon('a = """line1\n  "quoted" \\n ${x}\nline3"""\nb = 2', { env: {} })
  t.strictSame(value, { a: 'line1\n  "quoted" \\n ${x}\nline3', b: 2 })
  t.strictSame(origins.get('b'), { file: '<string>', line: 4, column: 5 }, 'lines are counted inside the string')
  t.strictSame(parse('a = """x"""""'), { a: 'x""' }, 'extra quotes before the closing ones belong to the string')
  t.strictSame(parse('a = """"""'), { a: '' })
})

t.test('comments', async (t) => {
  t.strictSame(parse('# top\na = 1 # trailing\n// slashes\nb = 2 // trailing\nc { # inside\n  d = 3\n}'), { a: 1, b: 2, c: { d: 3 } })
  t.strictSame(parse('a = x//y'), { a: 'x' })
  t.strictSame(parse('url = http://example.com\nok = "http://example.com"'), { url: 'http:', ok: 'http://example.com' },
    "HOCON: '//' starts a comment even in an unquoted URL")
  t.strictSame(parse('a = [1, # one\n  2 // two\n]'), { a: [1, 2] })
})

t.test('arrays', async (t) => {
  t.strictSame(parse('a = [1, 2, 3]'), { a: [1, 2, 3] })
  t.strictSame(parse('a = [\n  1\n  2,\n  3,\n]'), { a: [1, 2, 3] })
  t.strictSame(parse('a = []\nb = [ ]'), { a: [], b: [] })
  t.strictSame(parse('a = [[1, 2], [], [{ x = [y] }]]'), { a: [[1, 2], [], [{ x: ['y'] }]] })
  t.strictSame(parse('a = [ hello world, "q" ]'), { a: ['hello world', 'q'] })
  t.strictSame(parse('a = [1] [2, 3]'), { a: [1, 2, 3] }, 'arrays concatenate')
  t.strictSame(parse('a = { x = 1 } { y = 2 }'), { a: { x: 1, y: 2 } }, 'objects concatenate by merging')
})

t.test('+= appends to an array', async (t) => {
  t.strictSame(parse('a = [1]\na += 2\na += [3]'), { a: [1, 2, [3]] })
  t.strictSame(parse('b += x'), { b: ['x'] }, 'creates the array')
  t.strictSame(parse('c.d += { q = 1 }\nc.d += 2'), { c: { d: [{ q: 1 }, 2] } })
  t.strictSame(parse('e { f = [a] }\ne { f += b }'), { e: { f: ['a', 'b'] } })
})

t.test('a key named __proto__ is an ordinary key', async (t) => {
  const value = parse('__proto__ { polluted = 1 }\nconstructor = 2')
  t.equal(Object.getPrototypeOf(value), Object.prototype)
  t.strictSame(Object.keys(value), ['__proto__', 'constructor'])
  t.strictSame(Object.getOwnPropertyDescriptor(value, '__proto__')?.value, { polluted: 1 })
  t.equal(({} as Record<string, unknown>).polluted, undefined)
})

t.test('parseHoconValue', async (t) => {
  const cases: [string, unknown][] = [
    ['1MB', '1MB'],
    ['42', 42],
    ['-1.5', -1.5],
    ['true', true],
    ['null', null],
    ['[a, b]', ['a', 'b']],
    ['{a=1}', { a: 1 }],
    ['{ a { b = [1, "x"] } }', { a: { b: [1, 'x'] } }],
    ['"quoted"', 'quoted'],
    ['0.0.0.0:9883', '0.0.0.0:9883'],
    ['emqx@127.0.0.1', 'emqx@127.0.0.1'],
    ['hello world', 'hello world'],
    ['  padded  ', 'padded'],
    ['"""raw "x" """', 'raw "x" '],
  ]
  for (const [text, expected] of cases) t.strictSame(parseHoconValue(text), expected, text)
  t.equal(parseHoconValue('${V}/x', { env: { V: '/opt' } }), '/opt/x')
  t.equal(parseHoconValue('${?NOT_SET_ANYWHERE}', { env: {} }), undefined)
  t.throws(() => parseHoconValue(''), { code: 'CULEX_ERR_CONFIG_PARSE', file: '<value>', line: 1, column: 1 })
  t.throws(() => parseHoconValue('a\nb'), { line: 2, column: 1, message: "<value>:2:1: unexpected 'b' after the value" })
})

t.test('a 1,000-line file with substitutions parses', async (t) => {
  let text = ''
  for (let i = 0; i < 125; i++) {
    text += `listeners.tcp.l${i} {\n  bind = "0.0.0.0:${2000 + i}"\n  max_connections = 1024000 # c\n` +
      `  opts { t = 15s, s = 1MB, p = \${node.dir}"/x" }\n  tags = [a, b]\n}\nnode.dir = data\n\n`
  }
  t.equal(text.split('\n').length, 1001)
  const { value } = parseHocon(text, { env: {} })
  t.equal((value.listeners as { tcp: Record<string, { opts: { p: string } }> }).tcp.l99.opts.p, 'data/x')
})
