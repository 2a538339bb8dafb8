// Authorization decisions: each matcher, placeholders, qos/retain conditions, eq, and/or, order,
// no_match, superuser bypass, and the two token ACL formats.
import t, { type Test } from 'tap'
import { Authorizer, type AuthzRequest, type CachedDecision } from '../../src/auth/authz.js'
import { loadConfig } from '../../src/config/load.js'
import type { ClientInfo, TokenAcl } from '../../src/mqtt/hooks.js'
import type { PeerCertificate } from '../../src/mqtt/tls-info.js'
import { memoryLog } from '../helpers.js'

/** The decision of sources that answer at once (every source here does). */
function decide (authz: Authorizer, client: ClientInfo, request: AuthzRequest): CachedDecision {
  const decision = authz.authorize(client, request)
  if (decision instanceof Promise) throw new Error('a synchronous decision was expected')
  return decision
}

function client (over: Partial<ClientInfo> = {}): ClientInfo {
  return {
    clientId: 'c1', username: 'u1', protocolVersion: 5, listener: 'tcp:default', remoteAddress: '127.0.0.1', remotePort: 5000,
    connectedAt: 0, isSuperuser: false, attrs: {}, tls: undefined, cert: undefined, ...over,
  }
}

function authorizer (rules: string, more: Record<string, unknown> = {}): Authorizer {
  const { config } = loadConfig({ config: { authorization: { sources: [{ type: 'file', rules }], ...more } }, env: {} })
  return new Authorizer(config.authorization, memoryLog().log)
}

const pub = (topic: string, qos = 0, retain = false): AuthzRequest => ({ action: 'publish', topic, qos, retain })
const sub = (topic: string, qos = 0): AuthzRequest => ({ action: 'subscribe', topic, qos, retain: false })

type Case = [string, ClientInfo, AuthzRequest, 'allow' | 'deny']

function check (t: Test, authz: Authorizer, cases: Case[]): void {
  for (const [name, c, request, expected] of cases) t.equal(decide(authz, c, request).permission, expected, name)
}

t.test('client matchers', async (t) => {
  const authz = authorizer([
    '{allow, {username, "admin"}, all, ["u"]}.',
    '{allow, {username, {re, "^dev-"}}, all, ["re"]}.',
    '{allow, {clientid, "c9"}, all, ["cid"]}.',
    '{allow, {clientid, {re, "^sensor[0-9]+$"}}, all, ["cidre"]}.',
    '{allow, {ipaddr, "10.1.2.3"}, all, ["ip"]}.',
    '{allow, {ipaddrs, ["192.168.0.0/16", "2001:db8::/32"]}, all, ["ips"]}.',
    '{allow, {\'and\', [{username, "a"}, {clientid, "b"}]}, all, ["and"]}.',
    '{allow, {\'or\', [{username, "a"}, {clientid, "b"}]}, all, ["or"]}.',
    '{deny, all}.',
  ].join('\n'))
  check(t, authz, [
    ['username equal', client({ username: 'admin' }), pub('u'), 'allow'],
    ['username differs', client({ username: 'admin2' }), pub('u'), 'deny'],
    ['no username', client({ username: undefined }), pub('u'), 'deny'],
    ['username regex', client({ username: 'dev-7' }), pub('re'), 'allow'],
    ['username regex misses', client({ username: 'prod-7' }), pub('re'), 'deny'],
    ['clientid', client({ clientId: 'c9' }), pub('cid'), 'allow'],
    ['clientid regex', client({ clientId: 'sensor42' }), pub('cidre'), 'allow'],
    ['clientid regex misses', client({ clientId: 'sensor4x' }), pub('cidre'), 'deny'],
    ['ipaddr', client({ remoteAddress: '10.1.2.3' }), pub('ip'), 'allow'],
    ['ipaddr as IPv4-mapped IPv6', client({ remoteAddress: '::ffff:10.1.2.3' }), pub('ip'), 'allow'],
    ['ipaddr differs', client({ remoteAddress: '10.1.2.4' }), pub('ip'), 'deny'],
    ['ipaddrs CIDR v4', client({ remoteAddress: '192.168.44.1' }), pub('ips'), 'allow'],
    ['ipaddrs CIDR v6', client({ remoteAddress: '2001:db8::9' }), pub('ips'), 'allow'],
    ['ipaddrs outside', client({ remoteAddress: '172.16.0.1' }), pub('ips'), 'deny'],
    ['and: both', client({ username: 'a', clientId: 'b' }), pub('and'), 'allow'],
    ['and: one', client({ username: 'a', clientId: 'x' }), pub('and'), 'deny'],
    ['or: one', client({ username: 'x', clientId: 'b' }), pub('or'), 'allow'],
    ['or: none', client({ username: 'x', clientId: 'x' }), pub('or'), 'deny'],
  ])
})

t.test('topics: wildcards, eq, subscribe filters, $ topics', async (t) => {
  const authz = authorizer([
    '{deny, all, subscribe, [{eq, "#"}, {eq, "t/#"}]}.',
    '{allow, all, all, ["t/#", "s/+/x"]}.',
    '{allow, all, subscribe, ["lit/#"]}.',
    '{allow, all, all, ["#"]}.',
  ].join('\n'), { no_match: 'deny' })
  const c = client()
  check(t, authz, [
    ['publish under t/#', c, pub('t/a/b'), 'allow'],
    ['publish to t itself (t/# covers the parent)', c, pub('t'), 'allow'],
    ['publish through +', c, pub('s/1/x'), 'allow'],
    ['+ is one level', c, pub('s/1/2/x'), 'allow'],
    ['subscribe t/a under t/#', c, sub('t/a'), 'allow'],
    ['subscribe t/+ under t/#', c, sub('t/+'), 'allow'],
    ['subscribe the literal t/# is denied by eq', c, sub('t/#'), 'deny'],
    ['subscribe lit/# (no eq rule)', c, sub('lit/#'), 'allow'],
    ['subscribe # is denied by eq', c, sub('#'), 'deny'],
    ['subscribe s/+/x equals the rule filter', c, sub('s/+/x'), 'allow'],
    ['publish $SYS/x: # does not cover $ topics', c, pub('$SYS/x'), 'deny'],
  ])
  const narrow = authorizer('{allow, all, subscribe, ["a/+"]}.\n{allow, all, subscribe, ["b/#"]}.', { no_match: 'deny' })
  check(t, narrow, [
    ['a/+ allows a/x', c, sub('a/x'), 'allow'],
    ['a/+ allows a/+', c, sub('a/+'), 'allow'],
    ['a/+ does not allow a/x/y', c, sub('a/x/y'), 'deny'],
    ['a/+ does not allow #', c, sub('#'), 'deny'],
    ['b/# does not allow c/+', c, sub('c/+'), 'deny'],
    ['b/# allows b/#', c, sub('b/#'), 'allow'],
  ])
})

t.test('placeholders', async (t) => {
  const authz = authorizer([
    '{allow, all, all, ["c/${clientid}/#", "u/${username}", "cn/${cert_common_name}", "zone/${client_attrs.zone}/+", {eq, "eq/${clientid}/#"}]}.',
    '{deny, all}.',
  ].join('\n'))
  const cert = { cn: 'dev1', subject: 'CN=dev1' } as PeerCertificate
  check(t, authz, [
    ['clientid', client({ clientId: 'k' }), pub('c/k/x'), 'allow'],
    ['another client id', client({ clientId: 'k' }), pub('c/j/x'), 'deny'],
    ['username', client({ username: 'bob' }), pub('u/bob'), 'allow'],
    ['no username: the rule matches nothing', client({ username: undefined }), pub('u/${username}'), 'deny'],
    ['cert common name', client({ cert }), pub('cn/dev1'), 'allow'],
    ['no certificate', client(), pub('cn/'), 'deny'],
    ['client attribute', client({ attrs: { zone: 'eu' } }), sub('zone/eu/+'), 'allow'],
    ['missing client attribute', client(), pub('zone/eu/a'), 'deny'],
    ['eq with a placeholder', client({ clientId: 'k' }), sub('eq/k/#'), 'allow'],
    ['eq is literal', client({ clientId: 'k' }), sub('eq/k/a'), 'deny'],
  ])
})

t.test('qos and retain conditions', async (t) => {
  const authz = authorizer([
    '{allow, all, {publish, [{qos, [0, 1]}, {retain, false}]}, ["p"]}.',
    '{allow, all, {subscribe, [{qos, 2}]}, ["s"]}.',
    '{allow, all, {all, [{qos, 1}, {retain, true}]}, ["a"]}.',
    '{allow, all, {publish, [{retain, all}]}, ["r"]}.',
    '{deny, all}.',
  ].join('\n'))
  const c = client()
  check(t, authz, [
    ['qos 0 not retained', c, pub('p', 0), 'allow'],
    ['qos 1', c, pub('p', 1), 'allow'],
    ['qos 2 outside the list', c, pub('p', 2), 'deny'],
    ['retained, rule wants not retained', c, pub('p', 1, true), 'deny'],
    ['subscribe qos 2', c, sub('s', 2), 'allow'],
    ['subscribe qos 1', c, sub('s', 1), 'deny'],
    ['publish action does not cover subscribe', c, sub('p', 0), 'deny'],
    ['all: publish qos 1 retained', c, pub('a', 1, true), 'allow'],
    ['all: publish qos 1 not retained', c, pub('a', 1, false), 'deny'],
    ['all: subscribe ignores retain', c, sub('a', 1), 'allow'],
    ['retain all', c, pub('r', 2, true), 'allow'],
  ])
})

t.test('order: first matching rule, then the next source, then no_match', async (t) => {
  const authz = authorizer('{deny, all, publish, ["x/secret"]}.\n{allow, all, publish, ["x/#"]}.')
  const c = client()
  t.match(decide(authz, c, pub('x/secret')), { permission: 'deny', source: 'file', rule: 'authorization.sources[0].rules:1' })
  t.match(decide(authz, c, pub('x/other')), { permission: 'allow', rule: 'authorization.sources[0].rules:2' })
  t.match(decide(authz, c, pub('y')), { permission: 'allow', source: 'no_match' }, 'no_match = allow by default')
  const strict = authorizer('{allow, all, publish, ["x/#"]}.', { no_match: 'deny' })
  t.match(decide(strict, c, pub('y')), { permission: 'deny', source: 'no_match' })
  const { config } = loadConfig({
    config: { authorization: { no_match: 'deny', sources: [{ type: 'built_in_database', enable: false }, { type: 'file', rules: '{allow, all, all, ["two"]}.' }] } },
    env: {},
  })
  const two = new Authorizer(config.authorization, memoryLog().log)
  t.equal(two.sources.length, 1, 'a disabled source is not asked')
  t.match(decide(two, c, pub('two')), { permission: 'allow', rule: 'authorization.sources[1].rules:1' })
  t.match(decide(two, c, pub('three')), { permission: 'deny', source: 'no_match' })
  t.throws(() => loadConfig({ config: { authorization: { sources: [{ type: 'file', rules: '' }, { type: 'file', rules: '' }] } }, env: {} }),
    { code: 'CULEX_ERR_CONFIG_INVALID', message: /at most one source of each type/ }, 'one source per type, as EMQX')
})

t.test('superusers bypass every rule', async (t) => {
  const authz = authorizer('{deny, all}.', { no_match: 'deny' })
  t.match(decide(authz, client({ isSuperuser: true }), sub('#')), { permission: 'allow', source: 'superuser' })
  const acl: TokenAcl = { format: 'lists', pub: [], sub: [], all: [] }
  t.match(decide(authz, client({ isSuperuser: true, clientId: 's2', acl }), pub('x')), { permission: 'allow', source: 'superuser' })
  t.equal(decide(authz, client(), sub('#')).permission, 'deny')
})

t.test('token ACL, old format: the lists are a whitelist', async (t) => {
  const authz = authorizer('{allow, all}.')
  const acl: TokenAcl = { format: 'lists', pub: ['p/${clientid}/#'], sub: ['s/+'], all: ['both/#'] }
  const c = (): ClientInfo => client({ clientId: 'k', acl })
  check(t, authz, [
    ['pub list', c(), pub('p/k/1'), 'allow'],
    ['pub list is not for subscribe', c(), sub('p/k/1'), 'deny'],
    ['sub list', c(), sub('s/1'), 'allow'],
    ['sub list is not for publish', c(), pub('s/1'), 'deny'],
    ['all list', c(), pub('both/x'), 'allow'],
    ['anything else is denied although the file allows all', c(), pub('other'), 'deny'],
  ])
  t.match(decide(authz, c(), pub('other')), { source: 'token_acl' })
})

t.test('token ACL, new format: first match decides, no match asks the file', async (t) => {
  const authz = authorizer('{allow, all, all, ["file/#"]}.\n{deny, all}.')
  const acl: TokenAcl = {
    format: 'rules',
    rules: [
      { permission: 'deny', action: 'publish', topic: 't/secret' },
      { permission: 'allow', action: 'publish', topic: 't/#', qos: [0, 1], retain: false },
      { permission: 'allow', action: 'subscribe', topic: 'eq t/#' },
      { permission: 'deny', action: 'all', topic: 'file/blocked' },
    ],
  }
  const c = (): ClientInfo => client({ acl })
  check(t, authz, [
    ['deny rule first', c(), pub('t/secret'), 'deny'],
    ['allow rule', c(), pub('t/a', 1), 'allow'],
    ['qos outside the rule: no match, then the file denies', c(), pub('t/a', 2), 'deny'],
    ['retain outside the rule', c(), pub('t/a', 0, true), 'deny'],
    ['eq subscribe', c(), sub('t/#'), 'allow'],
    ['eq is literal: no match, the file denies', c(), sub('t/a'), 'deny'],
    ['token deny beats the file allow', c(), pub('file/blocked'), 'deny'],
    ['no token match: the file allows', c(), pub('file/ok'), 'allow'],
  ])
  t.match(decide(authz, c(), pub('file/ok')), { source: 'file' })
  t.match(decide(authz, c(), pub('t/a', 1)), { source: 'token_acl', rule: 'rules[1]' })
})

t.test('the cache: reused within ttl, bounded, per client, off when disabled', async (t) => {
  const calls: string[] = []
  const counting = { id: 'counting', authorize: (_c: ClientInfo, r: AuthzRequest) => { calls.push(r.topic); return undefined } }
  const { config } = loadConfig({ config: { authorization: { no_match: 'deny', cache: { max_size: 2 } } }, env: {} })
  const authz = new Authorizer(config.authorization, memoryLog().log).addSource(counting)
  const c = client()
  t.match(decide(authz, c, pub('a')), { permission: 'deny', cached: false })
  t.match(decide(authz, c, pub('a')), { permission: 'deny', cached: true })
  t.same(calls, ['a'])
  t.match(decide(authz, c, pub('a', 1)), { cached: false }, 'qos is part of the key')
  decide(authz, c, pub('b'))
  decide(authz, c, pub('a'))
  t.same(calls, ['a', 'a', 'b', 'a'], 'max_size 2: the oldest entry went')
  decide(authz, client({ clientId: 'other' }), pub('b'))
  t.equal(calls.length, 5, 'another client has its own cache')
  authz.forget(c)
  decide(authz, c, pub('b'))
  t.equal(calls.length, 6, 'forgotten on disconnect')
  t.equal(authz.cacheHits, 1)

  const off = loadConfig({ config: { authorization: { cache: { enable: false } } }, env: {} }).config
  const uncached = new Authorizer(off.authorization, memoryLog().log).addSource(counting)
  calls.length = 0
  decide(uncached, c, pub('a'))
  decide(uncached, c, pub('a'))
  t.equal(calls.length, 2)

  const short = loadConfig({ config: { authorization: { cache: { ttl: '1ms' } } }, env: {} }).config
  const expiring = new Authorizer(short.authorization, memoryLog().log).addSource(counting)
  calls.length = 0
  decide(expiring, c, pub('a'))
  await new Promise((resolve) => setTimeout(resolve, 5)) // past the 1 ms ttl (the cache compares the clock)
  decide(expiring, c, pub('a'))
  t.equal(calls.length, 2, 'an entry older than ttl is decided again')
})

t.test('an expired token ACL denies everything, and decisions cached before expiry are made again', async (t) => {
  const authz = authorizer('{allow, all}.')
  const acl: TokenAcl = { format: 'rules', rules: [{ permission: 'allow', action: 'publish', topic: 't/#' }] }
  const live = client({ acl, aclExpireAt: Date.now() + 50 })
  t.equal(decide(authz, live, pub('t/a')).permission, 'allow', 'the token allows while valid')
  t.equal(decide(authz, live, pub('t/a')).cached, true, 'and the decision is cached')
  await new Promise((resolve) => setTimeout(resolve, 80)) // past aclExpireAt (compared with the clock)
  const after = decide(authz, live, pub('t/a'))
  t.equal(after.cached, false, 'the cached decision is not reused after expiry')
  t.match(after, { permission: 'deny', source: 'token_acl', rule: 'token expired' }, 'the expired token denies, as EMQX: the file rules are not asked')
  t.equal(decide(authz, live, sub('u/x')).permission, 'deny', 'a topic the token never listed as well')
})
