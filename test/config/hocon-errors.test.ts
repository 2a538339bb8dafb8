import t from 'tap'
import { HoconError, parseHocon } from '../../src/config/hocon/index.js'
import { hoconError } from './hocon-helpers.js'

// [text, line, column, reason]
const cases: [string, number, number, string][] = [
  ['a {\n  b = 1\n', 3, 1, "expected '}' to close object opened at 1:3, found end of file"],
  ['a { b = 1 ]', 1, 11, "expected '}' to close object opened at 1:3, found ']'"],
  ['a = [1,\n 2\n', 3, 1, "expected ']' to close array opened at 1:5, found end of file"],
  ['a = [1, 2}', 1, 10, "expected ']' to close array opened at 1:5, found '}'"],
  ['a = 1\n}', 2, 1, "unexpected '}' with nothing to close"],
  ['a = 1 ]', 1, 7, "unexpected ']' with nothing to close"],
  ['a = "abc\nb = 1', 1, 5, 'unterminated string'],
  ['x = 1\ny = """abc\n\n', 2, 5, 'unterminated triple-quoted string'],
  ['a = "x\\q"', 1, 7, "invalid escape sequence '\\q' in string"],
  ['a = "\\u12g4"', 1, 6, "invalid unicode escape '\\u12g4'"],
  ['a b\n', 1, 4, "expected '=', ':' or '{' after key 'a b', found end of line"],
  ['a.b [1]', 1, 5, "expected '=', ':' or '{' after key 'a.b', found '['"],
  ['a =\nb = 1', 1, 4, "expected a value for key 'a', found end of line"],
  ['a = ', 1, 5, "expected a value for key 'a', found end of file"],
  ['a = 1,, b = 2', 1, 7, "expected a key, found ','"],
  ['a = [1,,2]', 1, 8, "expected an array element, found ','"],
  ['a = 1 = 2', 1, 7, "expected ',' or a new line after the value, found '='"],
  ['a = x?y', 1, 6, "unexpected character '?' (quote the value to use it)"],
  ['a = !x', 1, 5, "unexpected character '!' (quote the value to use it)"],
  ['a = $x', 1, 5, "unexpected character '$' (substitutions are written ${path})"],
  ['a = ${b', 1, 5, "unterminated substitution, expected '}'"],
  ['a = 1\n  b = ${}', 2, 7, 'invalid substitution ${}: empty path element'],
  ['a = ${a..b}', 1, 5, 'invalid substitution ${a..b}: empty path element'],
  ['a = ${a?b}', 1, 8, "unexpected character '?' in substitution"],
  ['${a} = 1', 1, 1, 'substitutions cannot be used in keys'],
  ['a..b = 1', 1, 1, "invalid key 'a..b': empty path element"],
  ['  a. = 1', 1, 3, "invalid key 'a.': empty path element"],
  ['.a = 1', 1, 1, "invalid key '.a': empty path element"],
  ['[1, 2]', 1, 1, 'the root of a config file must be an object, not an array'],
  ['{ a = 1 }\nb = 2', 2, 1, "unexpected 'b' after the root object"],
  ['a = { x = 1 } y', 1, 15, "cannot concatenate an object with a string ('y')"],
  [`a = ${'['.repeat(501)}`, 1, 505, 'objects and arrays nested more than 500 deep'],
]

t.test('syntax errors name the file, line and column of the offending token', async (t) => {
  for (const [text, line, column, reason] of cases) {
    const err = hoconError(() => parseHocon(text, { file: 'etc/culex.conf', env: {} }))
    t.strictSame({ file: err.file, line: err.line, column: err.column, reason: err.reason }, { file: 'etc/culex.conf', line, column, reason }, JSON.stringify(text))
  }
})

t.test('HoconError shape', async (t) => {
  const err = hoconError(() => parseHocon('a {\n  b = "x\n}'))
  t.ok(err instanceof Error)
  t.ok(err instanceof HoconError)
  t.equal(err.name, 'HoconError')
  t.equal(err.code, 'CULEX_ERR_CONFIG_PARSE')
  t.equal(err.message, '<string>:2:7: unterminated string')
})
