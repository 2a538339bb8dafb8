// Sources that answer with a promise (services), and the synchronous path that makes none: decisions,
// their cache (a cached decision is synchronous again), cache.excludes, failing sources passed over (ignore)
// to the next source or no_match with a log line and a count, PUBLISH and SUBSCRIBE waiting for the answer,
// and read checks (per delivery) that never ask an asynchronous source.
import type { MqttClient } from 'mqtt'
import t from 'tap'
import { Authorizer, type AuthzRequest, type AuthzSource, type SourceAnswer } from '../../src/auth/authz.js'
import { loadConfig } from '../../src/config/load.js'
import type { ClientInfo } from '../../src/mqtt/hooks.js'
import { createMessage } from '../../src/mqtt/message.js'
import { collect, connectOwned, memoryLog, probe, startBroker, until } from '../helpers.js'

function client (over: Partial<ClientInfo> = {}): ClientInfo {
  return {
    clientId: 'c1', username: 'u1', protocolVersion: 5, listener: 'tcp:default', remoteAddress: '127.0.0.1', remotePort: 5000,
    connectedAt: 0, isSuperuser: false, attrs: {}, tls: undefined, cert: undefined, ...over,
  }
}

const pub = (topic: string): AuthzRequest => ({ action: 'publish', topic, qos: 0, retain: false })

function authorizer (authorization: Record<string, unknown>) {
  const { log, lines } = memoryLog()
  const { config } = loadConfig({ config: { authorization }, env: {} })
  return { authz: new Authorizer(config.authorization, log), lines }
}

/** A service-like source: each request waits for the test to answer it. */
function deferredSource (id = 'svc') {
  const pending: { request: AuthzRequest, answer: (a: SourceAnswer) => void, fail: (e: Error) => void }[] = []
  const source: AuthzSource = {
    id,
    asynchronous: true,
    authorize: (_c, request) => new Promise<SourceAnswer>((resolve, reject) => pending.push({ request, answer: resolve, fail: reject })),
  }
  return { source, pending }
}

function publish (c: MqttClient, topic: string): Promise<number> {
  return new Promise((resolve, reject) => c.publish(topic, 'x', { qos: 1 }, (err) => {
    const code = (err as { code?: number } | undefined)?.code
    if (err && code === undefined) reject(err)
    else resolve(code ?? 0)
  }))
}

t.test('sources that answer at once make no promise, from the hook down', async (t) => {
  const b = await startBroker({ authorization: { sources: [{ type: 'file', rules: '{deny, all, publish, ["d/#"]}.' }, { type: 'built_in_database' }] } })
  t.teardown(() => b.close())
  const c = client()
  for (const topic of ['d/1', 'x', 'x']) {
    const answer = b.broker.hooks.authorizePublish[0]!(c, createMessage(topic, Buffer.from('x'), 0, false))
    t.notOk(answer instanceof Promise, `${topic}: the publish hook answers at once`)
  }
  t.equal(b.broker.authz.cacheHits, 1)
})

t.test('an asynchronous source decides; its decision is cached, and a cached decision is synchronous', async (t) => {
  const { authz } = authorizer({ no_match: 'deny' })
  const { source, pending } = deferredSource()
  authz.addSource(source)
  const c = client()
  const first = authz.authorize(c, pub('t'))
  t.ok(first instanceof Promise, 'a promise while the service answers')
  await until(() => pending.length === 1, 'the request')
  t.same(pending[0]!.request, pub('t'), 'the service is asked for the action, topic, qos and retain')
  pending[0]!.answer({ permission: 'allow', rule: 'svc' })
  t.match(await first, { permission: 'allow', source: 'svc', cached: false })
  const second = authz.authorize(c, pub('t'))
  t.notOk(second instanceof Promise, 'from the cache: no promise')
  t.match(second, { permission: 'allow', cached: true })
  t.equal(pending.length, 1, 'the service was asked once')

  const third = authz.authorize(c, pub('u'))
  authz.clearCache()
  await until(() => pending.length === 2, 'the second request')
  pending[1]!.answer({ permission: 'deny', rule: 'svc' })
  t.match(await third, { permission: 'deny' })
  const fourth = authz.authorize(c, pub('u'))
  t.ok(fourth instanceof Promise, 'a decision that finished after the cache was cleared is not cached')
  await until(() => pending.length === 3, 'the third request')
  pending[2]!.answer(undefined)
  t.match(await fourth, { permission: 'deny', source: 'no_match' }, 'no rule of the service: no_match')
  t.same(Object.fromEntries(authz.counts), {
    superuser: { allow: 0, deny: 0, nomatch: 0, error: 0 },
    token_acl: { allow: 0, deny: 0, nomatch: 0, error: 0 },
    no_match: { allow: 0, deny: 1, nomatch: 0, error: 0 },
    cache: { allow: 1, deny: 0, nomatch: 0, error: 0 },
    svc: { allow: 1, deny: 1, nomatch: 1, error: 0 },
  }, 'counted by source and result')
})

t.test('a failing source is passed over to the next source, then no_match; logged when it starts failing, counted each time', async (t) => {
  const { authz, lines } = authorizer({ no_match: 'deny', cache: { enable: false }, sources: [{ type: 'file', rules: '{allow, all, publish, ["a/#"]}.' }] })
  const { source, pending } = deferredSource('flaky')
  const thrower: AuthzSource = { id: 'thrower', authorize: () => { throw new Error('bug in a library source') } }
  authz.sourceList.addSource(thrower)
  authz.addSource(source)
  const order = authz.sources.map((s) => s.id)
  t.same(order, ['file', 'thrower', 'flaky'])

  t.match(authz.authorize(client(), pub('a/1')), { permission: 'allow', source: 'file' }, 'the file decides first, at once')
  const decision = authz.authorize(client(), pub('z'))
  await until(() => pending.length === 1, 'the request')
  pending[0]!.fail(new Error('connection refused'))
  t.match(await decision, { permission: 'deny', source: 'no_match' }, 'the failing source is ignored: no_match decides')
  const again = authz.authorize(client(), pub('z'))
  await until(() => pending.length === 2, 'the second request')
  pending[1]!.fail(new Error('connection refused'))
  await again
  const warnings = lines.filter((l) => typeof l.msg === 'string' && l.msg.startsWith('authorization source flaky failed'))
  t.equal(warnings.length, 1, 'one warning while it keeps failing')
  t.match(warnings[0], { level: 40, source: 'flaky', reason: 'connection refused' })
  t.match(lines.find((l) => l.source === 'thrower'), { level: 40, reason: 'bug in a library source' }, 'a source that throws is passed over too')
  t.match(authz.counts.get('flaky'), { error: 2 })
  t.match(authz.counts.get('thrower'), { error: 2 })

  const recovered = authz.authorize(client(), pub('z'))
  await until(() => pending.length === 3, 'the third request')
  pending[2]!.answer({ permission: 'allow', rule: 'svc' })
  t.match(await recovered, { permission: 'allow', source: 'flaky' })
  t.ok(lines.some((l) => l.msg === 'authorization source flaky answers again' && l.failures === 2), 'its recovery is logged')
})

t.test('cache.excludes: decisions for those topics are made every time', async (t) => {
  const { authz } = authorizer({ cache: { excludes: ['live/#'] }, sources: [{ type: 'file', rules: '{allow, all}.' }] })
  const c = client()
  authz.authorize(c, pub('live/1'))
  authz.authorize(c, pub('live/1'))
  t.equal(authz.cacheHits, 0, 'never from the cache')
  authz.authorize(c, pub('other'))
  authz.authorize(c, pub('other'))
  t.equal(authz.cacheHits, 1, 'other topics are cached')
  authz.setSettings({ ...authz.settings, cache: { ...authz.settings.cache, excludes: [] } })
  authz.authorize(c, pub('live/1'))
  authz.authorize(c, pub('live/1'))
  t.equal(authz.cacheHits, 2, 'cached once the exclusion is gone')
})

t.test('PUBLISH and SUBSCRIBE wait for an asynchronous source; a client\'s packets keep their order', async (t) => {
  const { source, pending } = deferredSource()
  const b = await startBroker({ authorization: { no_match: 'deny', cache: { enable: false } } })
  t.teardown(() => b.close())
  b.broker.authz.addSource(source)
  const sub = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'sub' })
  const subscribed = sub.subscribeAsync('t/#', { qos: 1 })
  await until(() => pending.length === 1, 'the SUBSCRIBE request')
  t.match(pending[0]!.request, { action: 'subscribe', topic: 't/#' })
  pending[0]!.answer({ permission: 'allow', rule: 'svc' })
  t.match(await subscribed, [{ topic: 't/#', qos: 1 }])
  const got = collect(sub)

  const pubc = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'pub' })
  const first = publish(pubc, 't/1')
  const second = publish(pubc, 't/2')
  await until(() => pending.length >= 2, 'the first PUBLISH request')
  t.equal(pending.length, 2, 'the second PUBLISH waits for the first one\'s answer')
  pending[1]!.answer({ permission: 'deny', rule: 'svc' })
  t.equal(await first, 0x87, 'denied: PUBACK 0x87')
  await until(() => pending.length === 3, 'the second PUBLISH request')
  pending[2]!.answer({ permission: 'allow', rule: 'svc' })
  t.equal(await second, 0)
  const [message] = await got.waitFor(1)
  t.equal(message!.topic, 't/2', 'only the allowed message is delivered')
})

t.test('read checks (per delivery) never ask an asynchronous source; one that turns out to answer with a promise is left out of them', async (t) => {
  const asked: string[] = []
  const svc: AuthzSource = { id: 'svc', asynchronous: true, authorize: async (_c, r) => { asked.push(`${r.action} ${r.topic}`); return r.topic.startsWith('secret') ? { permission: 'deny', rule: 'svc' } : undefined } }
  const b = await startBroker({ authorization: { no_match: 'allow' } })
  t.teardown(() => b.close())
  b.broker.authz.addSource(svc)
  t.equal(b.broker.hooks.readGuard, undefined, 'an asynchronous source alone: deliveries are not checked')
  const sub = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'watch' })
  await sub.subscribeAsync('#', { qos: 2 })
  const got = collect(sub)
  const pubc = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'p' })
  t.equal(await publish(pubc, 'secret/x'), 0x87, 'the service denies the PUBLISH itself')
  await got.probe(pubc, 'open/probe')
  t.same(asked.filter((a) => a.startsWith('subscribe') && a !== 'subscribe #'), [], 'the service was not asked per delivery')

  // A library source that does not say it is asynchronous, and answers with a promise.
  let calls = 0
  const quiet: AuthzSource = { id: 'quiet', authorize: async () => { calls++; return undefined } }
  b.broker.authz.addSource(quiet)
  t.ok(b.broker.hooks.readGuard, 'it may deny anything: deliveries through wildcards are checked')
  await probe(pubc, 'open/a', [got])
  await until(() => b.logs.some((l) => l.msg === 'authorization source quiet answers asynchronously: it is asked at PUBLISH and SUBSCRIBE only, not per delivery'), 'the notice')
  t.equal(b.broker.hooks.readGuard, undefined, 'once found asynchronous it is out of the read checks')
  const before = calls
  await probe(pubc, 'open/b', [got])
  t.equal(calls, before + 1, 'asked for the PUBLISH only, not for the delivery')
})
