import t from 'tap'
import { parseHocon } from '../../src/config/hocon/index.js'
import { hoconError } from './hocon-helpers.js'

const parse = (text: string, env: Record<string, string> = {}) => parseHocon(text, { env }).value

t.test('a lone substitution keeps the type of what it refers to', async (t) => {
  const value = parse('o = { x = 1, y = [a] }\narr = [1, 2]\nn = 1883\nb = true\n' +
    'copy { o = ${o}, arr = ${arr}, n = ${n}, b = ${b}, deep = ${o.y} }')
  t.strictSame(value.copy, { o: { x: 1, y: ['a'] }, arr: [1, 2], n: 1883, b: true, deep: ['a'] })
})

t.test('substitutions see the final merged config, wherever they are written', async (t) => {
  t.strictSame(parse('a = ${b}\nb = 1\nb = 2'), { a: 2, b: 2 })
  t.strictSame(parse('a = ${o}\no { x = 1 }\no { y = 2 }'), { a: { x: 1, y: 2 }, o: { x: 1, y: 2 } })
  t.strictSame(parse('x { a = ${x.b}, b = 7 }'), { x: { a: 7, b: 7 } })
  t.strictSame(parse('a = ${"k.j"}\n"k.j" = q'), { a: 'q', 'k.j': 'q' }, 'quoted path element')
  t.strictSame(parse('a = ${ b }\nb = 1'), { a: 1, b: 1 }, 'spaces inside ${ } are ignored')
})

t.test('a copied object is independent of later merges into the copy', async (t) => {
  t.strictSame(parse('base { x = 1 }\ncopy = ${base}\ncopy { y = 2 }'), { base: { x: 1 }, copy: { x: 1, y: 2 } })
})

t.test('concatenation makes strings', async (t) => {
  t.strictSame(parse('dir = /var\na = ${dir}"/log"\nb = "prefix-"${dir}\nc = ${dir}/lib ${dir}'), {
    dir: '/var', a: '/var/log', b: 'prefix-/var', c: '/var/lib /var',
  })
  t.strictSame(parse('n = 1.50\nm = 2\na = ${n}${m}\nb = v${n}'), { n: 1.5, m: 2, a: '1.502', b: 'v1.50' }, 'numbers keep their text')
  t.strictSame(parse('a = ${o} { y = 2 }\no { x = 1 }'), { a: { x: 1, y: 2 }, o: { x: 1 } }, 'objects merge')
  t.strictSame(parse('a = ${l} [3]\nl = [1, 2]'), { a: [1, 2, 3], l: [1, 2] }, 'arrays concatenate')
})

t.test('${...} inside quotes is literal text', async (t) => {
  t.strictSame(parse('a = "${clientid}"\nb = """${x}"""\nc = "x-${y}-"z'), { a: '${clientid}', b: '${x}', c: 'x-${y}-z' })
})

t.test('environment variables are the fallback for absent paths', async (t) => {
  const env = { HOME: '/home/me', 'a.b': 'dotted' }
  t.strictSame(parse('home = ${HOME}\ncache = ${?HOME}"/.cache"\nab = ${a.b}', env), {
    home: '/home/me', cache: '/home/me/.cache', ab: 'dotted',
  })
  t.strictSame(parse('HOME = config\nh = ${HOME}', env), { HOME: 'config', h: 'config' }, 'the config path wins')
  t.strictSame(parse('port = ${PORT}', { PORT: '1883' }), { port: '1883' }, 'environment values stay strings')
})

t.test('${?path} is optional', async (t) => {
  t.strictSame(parse('a = ${?NOPE}\nb = 1'), { b: 1 }, 'the field is omitted')
  t.strictSame(parse('a = 1\na = ${?NOPE}'), { a: 1 }, 'the earlier value stays')
  t.strictSame(parse('a = [1, ${?NOPE}, 2]'), { a: [1, 2] }, 'the array element is dropped')
  t.strictSame(parse('a = ${?NOPE}tail\nb = ${?NOPE} tail'), { a: 'tail', b: 'tail' })
  t.strictSame(parse('a = ${?HOME}', { HOME: '/h' }), { a: '/h' })
  t.strictSame(parse('o { x = 1 }\no = ${?NOPE}'), { o: { x: 1 } })
  const { origins } = parseHocon('a = 1\na = ${?NOPE}', { env: {} })
  t.strictSame(origins.get('a'), { file: '<string>', line: 1, column: 5 }, 'the origin is still the earlier value')
})

t.test('self-references see the previous value', async (t) => {
  t.strictSame(parse('path = /bin\npath = ${path}":/usr/bin"\npath = ${path}":more"'), { path: '/bin:/usr/bin:more' })
  t.strictSame(parse('PATH = ${PATH}":/opt/bin"', { PATH: '/bin' }), { PATH: '/bin:/opt/bin' }, 'no previous value: environment')
  t.strictSame(parse('a = ${?a}x'), { a: 'x' })
  t.strictSame(parse('o { x = 1 }\no = ${o} { y = 2 }\no { z = 3 }'), { o: { x: 1, y: 2, z: 3 } })
  t.strictSame(parse('l = [1]\nl = ${l} [2]\nl += 3'), { l: [1, 2, 3] })
  t.strictSame(parse('o { x = 1 }\no = ${o.x}'), { o: 1 }, 'a path below the field')
  t.strictSame(parse('o { n = 1 }\no { n = ${o.n}0 }'), { o: { n: '10' } }, 'inside an object that merges')
  t.strictSame(parse('a = 1\nb = ${a}\na = 2'), { a: 2, b: 2 }, 'not a self-reference: the final value')
})

t.test('errors', async (t) => {
  let err = hoconError(() => parseHocon('x = 1\n  y = ${a.b}', { env: {} }))
  t.match(err, { code: 'CULEX_ERR_CONFIG_PARSE', file: '<string>', line: 2, column: 7 })
  t.equal(err.message, '<string>:2:7: unknown substitution ${a.b}: no such config path or environment variable')

  err = hoconError(() => parseHocon('a = ${a}', { env: {} }))
  t.match(err, { line: 1, column: 5, reason: /^unknown substitution \$\{a\}/ }, 'self-reference without a previous value')

  err = hoconError(() => parseHocon('a = ${b}\nb = ${c}\nc = x${a}', { env: {} }))
  t.equal(err.message, '<string>:1:5: substitution cycle: ${b} -> ${c} -> ${a} -> ${b}')

  err = hoconError(() => parseHocon('a {\n  b = ${a}\n}', { env: {} }))
  t.match(err, { line: 2, column: 7, reason: "substitution cycle: the value of 'a.b' contains itself" })

  err = hoconError(() => parseHocon('o { x = 1 }\na = ${o} tail', { env: {} }))
  t.match(err, { line: 2, column: 10, reason: "cannot concatenate an object with a string ('tail')" })

  err = hoconError(() => parseHocon('a = [1] ${s}\ns = str', { env: {} }))
  t.match(err, { line: 1, column: 9, reason: "cannot concatenate an array with a string ('str')" })
})
