// acl.conf parser: every EMQX form, and errors with file, line and column.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { AclParseError, parseAclFile } from '../../src/auth/acl-file.js'
import { loadConfig } from '../../src/config/load.js'
import { createBroker } from '../../src/index.js'
import { memoryLog } from '../helpers.js'

function failure (fn: () => unknown): AclParseError {
  try { fn() } catch (err) { if (err instanceof AclParseError) return err; throw err }
  throw new Error('expected an AclParseError')
}

t.test('rule forms', async (t) => {
  const rules = parseAclFile([
    '%% a comment line',
    '{allow, {username, "admin"}, all, ["#"]}. % trailing comment',
    '{deny, all, subscribe, ["$SYS/#", {eq, "#"}]}.',
    '{allow, {ipaddr, "127.0.0.1"}, all, ["$SYS/#", "#"]}.',
    '{allow, {ipaddrs, ["10.0.0.0/8", "::1"]}, publish, ["a"]}.',
    '{allow, {clientid, "c1"}, subscribe, ["c/${clientid}/#"]}.',
    '{allow, {user, "u"}, all, ["x"]}.',
    '{allow, {client, {re, "^dev-"}}, all, ["x"]}.',
    '{allow, {\'and\', [{username, {re, "^dev"}}, {clientid, "c2"}]}, all, ["y"]}.',
    '{allow, {\'or\', [{username, "a"}, {ipaddr, "192.168.0.0/16"}]}, all, ["z"]}.',
    '{allow, all, {publish, [{qos, [0, 1]}, {retain, true}]}, ["q"]}.',
    '{deny, all, {subscribe, [{qos, 2}]}, ["q2"]}.',
    '{allow, all, {all, [{retain, all}]}, "single/topic"}.',
    '{allow, all, publish, ["eq lit/#"]}.',
    '{deny, all}.',
  ].join('\n'), 'acl.conf')
  t.equal(rules.length, 14)
  t.match(rules[0], { permission: 'allow', who: { type: 'username', match: 'admin' }, action: { type: 'all' }, topics: [{ text: '#', eq: false }], origin: 'acl.conf:2' })
  t.match(rules[1], { permission: 'deny', who: { type: 'all' }, action: { type: 'subscribe' }, topics: [{ text: '$SYS/#', eq: false }, { text: '#', eq: true }] })
  t.match(rules[2], { who: { type: 'ipaddr', text: '127.0.0.1' } })
  t.match(rules[3], { who: { type: 'ipaddr', text: '10.0.0.0/8,::1' }, action: { type: 'publish' } })
  t.match(rules[4], { who: { type: 'clientid', match: 'c1' }, topics: [{ text: 'c/${clientid}/#' }] })
  t.match(rules[5], { who: { type: 'username', match: 'u' } }, 'user is an alias of username')
  t.ok(rules[6]!.who.type === 'clientid' && rules[6]!.who.match instanceof RegExp, 'client alias with a regex')
  t.match(rules[7], { who: { type: 'and', items: [{ type: 'username' }, { type: 'clientid', match: 'c2' }] } })
  t.match(rules[8], { who: { type: 'or', items: [{ type: 'username' }, { type: 'ipaddr' }] } })
  t.same(rules[9]!.action, { type: 'publish', qos: [0, 1], retain: true })
  t.same(rules[10]!.action, { type: 'subscribe', qos: [2] })
  t.same(rules[11]!.action, { type: 'all', retain: 'all' })
  t.same(rules[11]!.topics, [{ text: 'single/topic', eq: false }])
  t.same(rules[12]!.topics, [{ text: 'lit/#', eq: true }], '"eq t" string form')
  t.match(rules[13], { permission: 'deny', who: { type: 'all' }, action: { type: 'all' }, topics: undefined, origin: 'acl.conf:15' })
})

t.test('the shipped etc/acl.conf is EMQX\'s default rule set', async (t) => {
  const rules = parseAclFile(readFileSync('etc/acl.conf', 'utf8'), 'etc/acl.conf')
  t.same(rules.map((r) => [r.permission, r.who.type, r.action.type]), [
    ['allow', 'username', 'subscribe'], ['allow', 'ipaddr', 'all'], ['deny', 'all', 'subscribe'], ['allow', 'all', 'all'],
  ])
})

t.test('errors name file, line and column', async (t) => {
  const cases: [string, number, number, RegExp][] = [
    ['{allow, all, publish, ["a"]}', 1, 29, /expected "\." after the rule, got the end of the file/],
    ['{allow, all}.\n  {permit, all}.', 2, 4, /expected allow or deny, got permit/],
    ['{allow, all, publish, ["a"]}.\n{allow, {nobody, "x"}, all, ["#"]}.', 2, 10, /unknown client matcher nobody/],
    ['{allow, all, pub, ["a"]}.', 1, 14, /expected publish, subscribe, all/],
    ['{allow, all, publish, ["a", 42]}.', 1, 29, /expected a topic string or \{eq, "topic"\}, got 42/],
    ['{allow, all, {publish, [{qos, 3}]}, ["a"]}.', 1, 31, /qos takes 0, 1, 2/],
    ['{allow, all, {publish, [{retain, maybe}]}, ["a"]}.', 1, 34, /retain takes true, false or all/],
    ['{allow, {ipaddr, "300.1.1.1"}, all, ["a"]}.', 1, 18, /invalid address or CIDR "300\.1\.1\.1"/],
    ['{allow, {ipaddr, "10.0.0.0/33"}, all, ["a"]}.', 1, 18, /invalid address or CIDR/],
    ['{allow, {username, {re, "("}}, all, ["a"]}.', 1, 25, /invalid regular expression/],
    ['{allow, all, publish, ["a}.', 1, 24, /unterminated string/],
    ['{allow, all, publish, ["a"]', 1, 28, /unclosed "\{" opened at 1:1/],
    ['{allow, all, publish ["a"]}.', 1, 22, /expected "," or "\}", got "\["/],
    ['{allow, all, publish}.', 1, 1, /a rule is \{Permission, Who, Action, Topics\}/],
    ['%% only\n\n   #', 3, 4, /unexpected "#"/],
  ]
  for (const [text, line, column, reason] of cases) {
    const err = failure(() => parseAclFile(text, 'x/acl.conf'))
    t.equal(err.code, 'CULEX_ERR_ACL_PARSE')
    t.match(err, { file: 'x/acl.conf', line, column, reason }, JSON.stringify(text))
    t.ok(err.message.startsWith(`x/acl.conf:${line}:${column}: `), err.message)
  }
})

t.test('an empty file has no rules', async (t) => {
  t.same(parseAclFile('%% nothing here\n\n'), [])
})

t.test('config: authorization defaults and source forms', async (t) => {
  const defaults = loadConfig({ config: {}, env: {} }).config.authorization
  t.same(defaults, { no_match: 'allow', deny_action: 'ignore', cache: { enable: true, max_size: 32, ttl: 60_000, excludes: [] }, sources: [] })
  const { config } = loadConfig({
    config: 'authorization { no_match = deny, deny_action = disconnect, cache.ttl = 5s\n' +
      'sources = [ { type = file, path = "etc/acl.conf" }, { type = built_in_database, enable = false } ] }',
    env: {},
  })
  t.match(config.authorization, {
    no_match: 'deny', deny_action: 'disconnect', cache: { ttl: 5000 },
    sources: [{ type: 'file', enable: true, path: 'etc/acl.conf' }, { type: 'built_in_database', enable: false }],
  })
  t.throws(() => loadConfig({ config: { authorization: { sources: [{ type: 'mongodb' }] } }, env: {} }), { code: 'CULEX_ERR_CONFIG_INVALID' })
})

t.test('a bad acl file stops start-up with its file, line and column', async (t) => {
  const { log } = memoryLog()
  const config = {
    listeners: { tcp: { default: { bind: '127.0.0.1:0' } } },
    dashboard: { listeners: { http: { enable: false } } },
    authorization: { sources: [{ type: 'file', rules: '{allow, all}.\n{allow, all, publish, ["a"] }' }] },
  }
  await t.rejects(createBroker({ logger: log, config }), { code: 'CULEX_ERR_ACL_PARSE', message: /^authorization\.sources\[0\]\.rules:2:30: expected "\."/ })
  const missing = { ...config, authorization: { sources: [{ type: 'file', path: 'no/such/acl.conf' }] } }
  await t.rejects(createBroker({ logger: log, config: missing }), { code: 'CULEX_ERR_ACL_PARSE', message: /no\/such\/acl\.conf: cannot read/ })
})
