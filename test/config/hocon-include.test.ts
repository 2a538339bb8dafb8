import { join } from 'node:path'
import t from 'tap'
import { parseHocon, parseHoconFile } from '../../src/config/hocon/index.js'
import { hoconError, stubReadFile } from './hocon-helpers.js'

t.test('include is relative to the including file, and included origins name their file', async (t) => {
  const dir = t.testdir({
    'emqx.conf': 'node.name = main\ninclude "conf.d/listeners.conf"\nlisteners.tcp.default.max_connections = 10\n',
    'conf.d': {
      'listeners.conf': 'listeners.tcp.default {\n  bind = "0.0.0.0:1883"\n  max_connections = 5\n}\ninclude "more.conf"\n',
      'more.conf': 'node.cookie = secret\nnode.name = from-more\n',
    },
  })
  const main = join(dir, 'emqx.conf')
  const { value, origins } = parseHoconFile(main, { env: {} })
  t.strictSame(value, {
    node: { name: 'from-more', cookie: 'secret' },
    listeners: { tcp: { default: { bind: '0.0.0.0:1883', max_connections: 10 } } },
  }, 'fields after the include override it, included fields override earlier ones')
  t.strictSame(origins.get('listeners.tcp.default.bind'), { file: join(dir, 'conf.d', 'listeners.conf'), line: 2, column: 10 })
  t.strictSame(origins.get('node.cookie'), { file: join(dir, 'conf.d', 'more.conf'), line: 1, column: 15 })
  t.strictSame(origins.get('listeners.tcp.default.max_connections'), { file: main, line: 3, column: 41 })
})

t.test('parseHoconFile names the file as given', async (t) => {
  const dir = t.testdir({ 'a.conf': 'x = 1' })
  const reads: string[] = []
  const stub = stubReadFile({ [join(dir, 'a.conf')]: 'x = 1' })
  const readFile = (p: string) => {
    reads.push(p)
    return stub(p)
  }
  const { origins } = parseHoconFile(join(dir, 'a.conf'), { readFile, env: {} })
  t.strictSame(origins.get('x'), { file: join(dir, 'a.conf'), line: 1, column: 5 })
  t.strictSame(reads, [join(dir, 'a.conf')])
  const err = hoconError(() => parseHoconFile(join(dir, 'missing.conf'), { readFile }))
  t.match(err, { file: join(dir, 'missing.conf'), line: 1, column: 1, reason: `cannot read config file: ENOENT: no such file or directory, open '${join(dir, 'missing.conf')}'` })
})

t.test('include forms, with a readFile stub', async (t) => {
  const readFile = stubReadFile({
    '/etc/culex/a.conf': 'a = 1',
    '/etc/culex/b.conf': 'b = 2',
    '/etc/culex/c.conf': 'c = 3',
    '/etc/other/d.conf': 'd = 4',
  })
  const text = 'include "a.conf"\ninclude file("b.conf")\ninclude required("c.conf")\ninclude required(file( "../other/d.conf" ))\n' +
    'include "missing.conf"\ninclude file("missing.conf")'
  const { value } = parseHocon(text, { file: '/etc/culex/main.conf', readFile, env: {} })
  t.strictSame(value, { a: 1, b: 2, c: 3, d: 4 }, 'a plain include of a missing file is ignored')
})

t.test('include inside an object nests the fields; its substitutions are relative to it', async (t) => {
  const readFile = stubReadFile({
    '/c/tcp.conf': 'bind = "0.0.0.0:1883"\nacceptors = ${default_acceptors}\nzone = ${zone_name}\nhome = ${HOME}',
  })
  const text = 'zone_name = global\nlisteners.tcp.default {\n  default_acceptors = 16\n  include "tcp.conf"\n}'
  const { value } = parseHocon(text, { file: '/c/main.conf', readFile, env: { HOME: '/h' } })
  t.strictSame(value, {
    zone_name: 'global',
    listeners: { tcp: { default: { default_acceptors: 16, bind: '0.0.0.0:1883', acceptors: 16, zone: 'global', home: '/h' } } },
  })
})

t.test('include errors', async (t) => {
  const dir = t.testdir({
    'main.conf': 'a = 1\n  include required("nope.conf")\n',
    'loop.conf': 'x = 1\ninclude "loop2.conf"\n',
    'loop2.conf': 'include required("loop.conf")\n',
    'bad-include.conf': 'ok = 1\ninclude "broken.conf"\n',
    'broken.conf': 'a {\n  b = [1, 2\n}\n',
  })
  let err = hoconError(() => parseHoconFile(join(dir, 'main.conf'), { env: {} }))
  t.match(err, { code: 'CULEX_ERR_CONFIG_PARSE', file: join(dir, 'main.conf'), line: 2, column: 20 })
  t.equal(err.reason, 'include file not found: nope.conf')

  err = hoconError(() => parseHoconFile(join(dir, 'loop.conf'), { env: {} }))
  t.match(err, { file: join(dir, 'loop2.conf'), line: 1, column: 18, reason: 'include cycle: loop.conf includes itself' })

  err = hoconError(() => parseHoconFile(join(dir, 'bad-include.conf'), { env: {} }))
  t.match(err, { file: join(dir, 'broken.conf'), line: 3, column: 1, reason: "expected ']' to close array opened at 2:7, found '}'" })

  const readFile = () => {
    throw Object.assign(new Error('permission denied'), { code: 'EACCES' })
  }
  err = hoconError(() => parseHocon('include "secret.conf"', { readFile }))
  t.match(err, { file: '<string>', line: 1, column: 9, reason: 'cannot read include file secret.conf: permission denied' })

  err = hoconError(() => parseHocon('include classpath("x.conf")'))
  t.match(err, { line: 1, column: 9, reason: 'include classpath(...) is not supported, use file(...)' })
  err = hoconError(() => parseHocon('include required("x.conf"'))
  t.match(err, { line: 1, column: 26, reason: "expected ')' to close include, found end of file" })
  err = hoconError(() => parseHocon('include required(x.conf)'))
  t.match(err, { line: 1, column: 9, reason: "unexpected 'required(x.conf)' in include, expected a quoted file name" })
})

t.test('"include" followed by anything but a file name is an ordinary key', async (t) => {
  t.strictSame(parseHocon('include = 1\ninclude.x { y = 2 }', { env: {} }).value, { include: { x: { y: 2 } } })
})
