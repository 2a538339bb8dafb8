// The variform expression engine (mqtt.client_attrs_init, clientid_override): a table of malformed
// expressions refused at parse time with the reason (test/malformed/variform/expressions.json), what the functions
// give, and the bounds on what a client's own text can make them do.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { compile, render, VariformError, type Value } from '../../src/mqtt/variform.js'

const table = JSON.parse(readFileSync(new URL('../malformed/variform/expressions.json', import.meta.url), 'utf8')) as { expression: string, error: string }[]

t.test('malformed expressions are refused with a reason', async (t) => {
  for (const { expression, error } of table) {
    const text = expression === 'LONG' ? `upper(${'x'.repeat(1100)})` : expression
    t.throws(() => compile(text), { name: 'VariformError', message: new RegExp(error) }, `${expression.slice(0, 60)} → ${error}`)
  }
})

const vars: Record<string, Value> = {
  clientid: 'tenant1.device-42.eu',
  username: 'Alice',
  cn: 'dev42.example.com',
  dn: 'CN=dev42.example.com,O=Acme',
  'user_property.region': 'eu-west',
  'cert_san.dns': ['a.example', 'b.example'],
  empty: '',
}
const run = (expression: string) => render(compile(expression), (name) => vars[name])

t.test('functions', async (t) => {
  const cases: [string, string][] = [
    ['clientid', 'tenant1.device-42.eu'],
    ['nth(1, tokens(clientid, \'.\'))', 'tenant1'],
    ['nth(2, tokens(clientid, ".-"))', 'device'],
    ['nth(9, tokens(clientid, \'.\'))', ''],
    ['nth(\'2\', split(clientid, \'.\'))', 'device-42'],
    ['substr(clientid, 0, 7)', 'tenant1'],
    ['substr(clientid, 8)', 'device-42.eu'],
    ['concat([lower(username), \'-\', upper(nth(3, tokens(clientid, \'.\')))])', 'alice-EU'],
    ['concat(username, 42)', 'Alice42'],
    ['nth(1, regex_extract(cn, \'^([a-z0-9]+)\\.\'))', 'dev42'],
    ['regex_match(clientid, \'^tenant\')', 'true'],
    ['regex_replace(clientid, \'[0-9]+\', \'N\')', 'tenantN.device-N.eu'],
    ['user_property.region', 'eu-west'],
    ['coalesce(user_property.missing, empty, username)', 'Alice'],
    ['coalesce([empty, cn])', 'dev42.example.com'],
    ['iif(is_empty(user_property.missing), \'none\', \'some\')', 'none'],
    ['nth(2, cert_san.dns)', 'b.example'],
    ['join_to_string(\'|\', cert_san.dns)', 'a.example|b.example'],
    ['trim(\'  x  \')', 'x'],
    ['pad(username, 8, \'leading\', \'*\')', '***Alice'],
    ['replace(clientid, \'.\', \'/\')', 'tenant1/device-42/eu'],
    ['rm_prefix(clientid, \'tenant1.\')', 'device-42.eu'],
    ['strlen(username)', '5'],
    ['find(dn, \'O=\')', 'O=Acme'],
    ['reverse(username)', 'ecilA'],
    ['str_eq(username, \'Alice\')', 'true'],
  ]
  for (const [expression, expected] of cases) t.equal(run(expression), expected, expression)
})

t.test('evaluation errors: unbound variables, wrong arguments, lists as results, bounds', async (t) => {
  t.throws(() => run('user_property.missing'), /variable user_property.missing is not bound/)
  t.throws(() => run('upper(nosuchvar)'), /not bound/)
  t.throws(() => run('cert_san.dns'), /gives a list/)
  t.throws(() => run('nth(0, tokens(clientid, \'.\'))'), /nth: index 0/)
  t.throws(() => run('nth(x, tokens(clientid, \'.\'))'), /not bound/)
  t.throws(() => run('substr(clientid, \'a\')'), /expected an integer/)
  t.throws(() => run('regex_match(clientid, \'(\')'), /bad regular expression/)
  t.throws(() => run('pad(username, 100000)'), /pad: length above/)
  const long = 'a'.repeat(5000)
  t.throws(() => render(compile('regex_match(clientid, \'^(a+)+$\')'), () => long), /longer than 4096/, 'a regular expression never runs on a long client-supplied text')
  const big = 'x'.repeat(40000)
  t.throws(() => render(compile('concat(clientid, clientid)'), () => big), /more than 65535 characters/, 'results are bounded')
  t.type(new VariformError('x'), Error)
})
