// Config-parser fuzzing: etc/base.hocon, the README's HOCON examples and a few hand-written snippets,
// mutated by a seeded PRNG (characters deleted, inserted, duplicated; braces unbalanced; bad escapes;
// huge numbers; includes of missing files, of a directory, of the file itself) and fed to loadConfig
// through a real file. Every case must load or throw a CulexError whose message starts with a
// file:line location: never another exception type, never a stack overflow. Deep nesting (10,000
// levels of brackets, dotted keys, substitution chains) must give a clear "nested more than" error.
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t, { type Test } from 'tap'
import { loadConfig } from '../../src/config/load.js'
import { CulexError } from '../../src/errors.js'

const SEED = 0x5eed
const CASES = 3000
const ROOT = new URL('../../', import.meta.url).pathname

/** mulberry32 */
function prng (seed: number) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  const int = (lo: number, hi: number) => lo + Math.floor(next() * (hi - lo + 1))
  const pick = <T>(list: readonly T[]): T => list[Math.floor(next() * list.length)]!
  return { next, int, pick }
}
type Rng = ReturnType<typeof prng>

function readmeExamples (): string[] {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
  return [...readme.matchAll(/```hocon\n([\s\S]*?)```/g)].map((m) => m[1]!)
}

const SEEDS = [
  readFileSync(join(ROOT, 'etc/base.hocon'), 'utf8'),
  ...readmeExamples(),
  'mqtt { max_packet_size = 64KB, idle_timeout = 1m }\nlisteners.tcp.default.bind = "127.0.0.1:1883"\n',
  'node.name = ${?NODE}\nbase { a = 1, b = [1, 2] }\nother = ${base} { c = """tri\n"ple""" }\nlist += 3\nlist += ${base.b}\n',
  'include "inc.conf"\ninclude required(file("sub/inc2.conf"))\nlog.console.level = ${mqtt.level}\n',
  '{ "quoted.key" : "v\\u00e9\\n", a.b.c = 1, arr = [ { x = 1 }, { y = [ ] } ] }\n',
]

// Fragments that stress what the lexer, parser, includes, substitutions and schema do with odd input.
const FRAGMENTS = [
  '{', '}', '[', ']', '"', '"""', '${', '${?', '}', '\\', '"\\q"', '"\\u12"', '"\\u{1F600}"', '=', ':', '+=', ',', '.', '..', '#', '//',
  '\n', '\t', ' ', '\u00a0', '\u2028', '\uFEFF', '\uD800', 'é', '€', '😀', '\0', '`', '^', '?', '!', '&', '$',
  '1e400', '-1e400', '9'.repeat(400), '0.' + '0'.repeat(400) + '1', '-0', '1.7976931348623157e309', '0x10', '1_000', 'NaN', 'Infinity',
  'include "missing.conf"', 'include required("missing.conf")', 'include file("missing.conf")', 'include required(file("sub"))',
  'include "case.conf"', 'include required("inc.conf")', 'include url("http://x")', 'include classpath("x")', 'include required(',
  '${a}', '${?nope}', '${mqtt.max_inflight}', '${self}', 'self = ${self}', 'a = ${b}\nb = ${a}', '"a" "b"',
  'true', 'null', '[1, {a = 1}]', '{ }', '1MB', '10s', 'infinity', 'disabled', '"0.0.0.0:1883"',
]

function mutate (rng: Rng, text: string): string {
  let s = text
  for (let n = rng.pick([1, 1, 1, 2, 2, 3, 6]); n > 0; n--) {
    const at = rng.int(0, s.length)
    // A third of the edits replace a value, so that many cases get past the parser to the schema.
    switch (rng.next() < 0.35 ? 6 : rng.int(0, 9)) {
      case 0: s = s.slice(0, at) + s.slice(at + rng.int(1, 20)); break // delete
      case 1: s = s.slice(0, at) + rng.pick(FRAGMENTS) + s.slice(at); break // insert
      case 2: { const from = rng.int(0, s.length); s = s.slice(0, at) + s.slice(from, from + rng.int(1, 200)) + s.slice(at); break } // duplicate
      case 3: s = s.slice(0, at) + rng.pick(['{', '}', '[', ']', '{{', ']]']) + s.slice(at); break // unbalance
      case 4: s = s.slice(0, at) + String.fromCharCode(rng.int(0, 0xffff)) + s.slice(at + 1); break // replace a character
      case 5: s = s.slice(0, at) + `\n${rng.pick(FRAGMENTS)}\n` + s.slice(at); break // a line of its own
      case 6: { // a value replaced
        const values = [...s.matchAll(/= *[^\n{[,]+/g)]
        const m = values.length > 0 ? rng.pick(values) : undefined
        if (m) s = s.slice(0, m.index) + `= ${rng.pick(FRAGMENTS)}` + s.slice(m.index + m[0].length)
        break
      }
      case 7: s = s.slice(0, at); break // truncated
      case 8: s = rng.pick(['a = ', 'a { ', 'a = [', 'a.']).repeat(rng.int(1, 700)) + s; break // nesting
      default: s = s.slice(0, at) + '"' + s.slice(at, at + rng.int(0, 40)).replace(/"/g, '\\' + rng.pick(['q', 'u', 'x', '"'])) + s.slice(at); break // escapes
    }
  }
  return s
}

const LOCATED = /^[^\n]+?:\d+(?::\d+)?: \S/

type Outcome = { kind: 'loaded' } | { kind: 'refused', code: string } | { kind: 'wrong', detail: string }

/** Loads `text` as dir/case.conf; a CulexError must say file:line (the first line of its message). */
function attempt (dir: string, text: string): Outcome {
  const file = join(dir, 'case.conf')
  writeFileSync(file, text)
  try {
    loadConfig({ file, env: {} })
    return { kind: 'loaded' }
  } catch (err) {
    if (!(err instanceof CulexError)) return { kind: 'wrong', detail: `${(err as Error)?.constructor?.name}: ${(err as Error)?.message}` }
    if (!LOCATED.test(err.message)) return { kind: 'wrong', detail: `${err.code} without a file:line location: ${err.message.slice(0, 200)}` }
    return { kind: 'refused', code: err.code }
  }
}

function fixtures (t: Test): string {
  return t.testdir({
    'inc.conf': 'mqtt { level = info, max_inflight = 16 }\n',
    sub: { 'inc2.conf': 'node.cookie = "c"\ninclude "../inc.conf"\n' },
  })
}

t.test(`${CASES} mutated configs (seed 0x${SEED.toString(16)}) load or fail with a located CulexError`, { timeout: 120_000 }, async (t) => {
  const dir = fixtures(t)
  const rng = prng(SEED)
  const counts: Record<string, number> = {}
  const wrong: string[] = []
  for (let i = 0; i < CASES; i++) {
    const text = mutate(rng, rng.pick(SEEDS))
    const outcome = attempt(dir, text)
    const key = outcome.kind === 'refused' ? outcome.code : outcome.kind
    counts[key] = (counts[key] ?? 0) + 1
    if (outcome.kind === 'wrong' && wrong.length < 10) wrong.push(`case ${i}: ${outcome.detail}\n${JSON.stringify(text.slice(0, 300))}`)
  }
  t.same(wrong, [], 'no other exception, no error without a location')
  t.ok((counts.loaded ?? 0) > 0, `some mutated configs still load (${JSON.stringify(counts)})`)
  t.ok((counts.CULEX_ERR_CONFIG_PARSE ?? 0) > 0, 'some are refused as unparsable')
  t.ok((counts.CULEX_ERR_CONFIG_INVALID ?? 0) > 0, 'some are refused by the schema')
})

t.test('10,000 levels of nesting give a clear error, not a stack overflow', async (t) => {
  const dir = fixtures(t)
  const deep = 10_000
  const chain = Array.from({ length: deep }, (_, i) => `k${i} = \${k${i + 1}}`).join('\n') + `\nk${deep} = 1\n`
  const cases: [string, string, RegExp][] = [
    ['arrays', `a = ${'['.repeat(deep)}`, /case\.conf:1:\d+: objects and arrays nested more than 500 deep/],
    ['objects', `a = ${'{ a = '.repeat(deep)}1${' }'.repeat(deep)}`, /case\.conf:1:\d+: objects and arrays nested more than 500 deep/],
    ['objects without =', `${'a { '.repeat(deep)}${'} '.repeat(deep)}`, /case\.conf:1:\d+: objects and arrays nested more than 500 deep/],
    ['a dotted key', `${'a.'.repeat(deep)}b = 1`, /case\.conf:1:1: objects and arrays nested more than 500 deep/],
    ['a substitution chain', chain, /case\.conf:\d+:\d+: substitutions nested more than 1000 deep/],
    ['+= on one key', 'a += 1\n'.repeat(deep), /case\.conf:\d+:\d+: substitutions nested more than 1000 deep/],
  ]
  for (const [what, text, expected] of cases) {
    const file = join(dir, 'case.conf')
    writeFileSync(file, text)
    let caught: unknown
    try { loadConfig({ file, env: {} }) } catch (err) { caught = err }
    t.ok(caught instanceof CulexError, `${what}: a CulexError (${(caught as Error)?.constructor?.name})`)
    t.match((caught as Error)?.message, expected, `${what}: says where and why`)
  }
})

t.test('an include nests its file at its own depth', async (t) => {
  // 300 levels here and 300 in the included file: 600 levels in the config, refused in the included file.
  const dir = t.testdir({ 'deep.conf': `${'b { '.repeat(300)}${'} '.repeat(300)}` })
  const file = join(dir, 'case.conf')
  writeFileSync(file, `${'a { '.repeat(300)}include "deep.conf"\n${'} '.repeat(300)}`)
  t.throws(() => loadConfig({ file, env: {} }), { code: 'CULEX_ERR_CONFIG_PARSE', message: /deep\.conf:1:\d+: objects and arrays nested more than 500 deep/ })
})

t.test('huge numbers and missing includes', async (t) => {
  const dir = fixtures(t)
  const cases: [string, RegExp | null][] = [
    ['mqtt.max_inflight = 1e400', /case\.conf:1:\d+: mqtt\.max_inflight: /],
    [`mqtt.max_packet_size = ${'9'.repeat(400)}`, /case\.conf:1:\d+: mqtt\.max_packet_size: /],
    ['mqtt.max_topic_levels = -0.5', /case\.conf:1:\d+: mqtt\.max_topic_levels: /],
    ['include "missing.conf"\nmqtt.max_inflight = 7', null],
    ['include required("missing.conf")', /case\.conf:1:18: include file not found: missing\.conf/],
    ['include required(file("sub"))', /case\.conf:1:23: cannot read include file sub: EISDIR/],
    ['include "case.conf"', /case\.conf:1:9: include cycle: case\.conf includes itself/],
  ]
  for (const [text, expected] of cases) {
    const outcome = attempt(dir, text)
    if (expected === null) {
      t.equal(outcome.kind, 'loaded', `${text}: loads`)
      continue
    }
    t.equal(outcome.kind, 'refused', `${JSON.stringify(text.slice(0, 40))}: refused`)
    t.throws(() => loadConfig({ file: join(dir, 'case.conf'), env: {} }), { message: expected })
  }
})

