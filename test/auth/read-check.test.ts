// Read checks per delivery (issue 15, item 10): a wildcard filter is authorized as a filter, so a topic
// under it that a deny rule covers (`{deny, all, subscribe, ["secret/#"]}`) must not be delivered through
// it, retained or live, as Mosquitto checks read access per message. With no rule that can deny a
// subscription, routing never asks (the hot path).
import type { MqttClient } from 'mqtt'
import t, { type Test } from 'tap'
import { collect, connectOwned, end, startBroker, until, type TestBroker } from '../helpers.js'

const RULES = [
  '{allow, {username, "admin"}, subscribe, ["secret/#"]}.',
  '{deny, all, subscribe, ["secret/#"]}.',
  '{allow, all}.',
].join('\n')

async function broker (t: Test, rules = RULES, config: Record<string, unknown> = {}): Promise<TestBroker> {
  const b = await startBroker({ authorization: { sources: [{ type: 'file', rules }] }, ...config })
  t.teardown(() => b.close())
  return b
}

const client = connectOwned

/** Publishes, then a marker; resolves once `inbox` has the marker (everything before it has been routed). */
async function publishThenMark (pub: MqttClient, inbox: ReturnType<typeof collect>, messages: [string, boolean][], marker: string): Promise<string[]> {
  for (const [topic, retain] of messages) await pub.publishAsync(topic, topic, { qos: 1, retain })
  await pub.publishAsync(marker, 'marker', { qos: 1 })
  await until(() => inbox.messages.some((m) => m.topic === marker), `marker ${marker}`)
  return inbox.messages.map((m) => m.topic)
}

for (const protocolVersion of [5, 4] as const) {
  t.test(`MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}: +/# and # do not deliver secret/keys, retained or live`, async (t) => {
    const b = await broker(t)
    const pub = await client(t, b.tcpPort, { protocolVersion, clientId: 'pub' })
    await pub.publishAsync('secret/keys', 'retained secret', { qos: 1, retain: true })
    await pub.publishAsync('open/a', 'retained open', { qos: 1, retain: true })

    const reader = await client(t, b.tcpPort, { protocolVersion, clientId: 'reader' })
    const inbox = collect(reader)
    const granted = await reader.subscribeAsync({ '+/#': { qos: 1 }, '#': { qos: 1 } })
    t.same(granted.map((g) => g.qos), [1, 1], 'both filters are granted')
    const topics = await publishThenMark(pub, inbox, [['secret/keys', false], ['open/b', false]], 'open/marker')
    t.same(topics.filter((topic) => topic.startsWith('secret')), [], 'secret/keys never arrived')
    t.ok(topics.includes('open/a'), 'the retained open/a arrived')
    t.ok(topics.includes('open/b'), 'the live open/b arrived')

    const admin = await client(t, b.tcpPort, { protocolVersion, clientId: 'admin', username: 'admin' })
    const adminInbox = collect(admin)
    await admin.subscribeAsync('#', { qos: 1 })
    const adminTopics = await publishThenMark(pub, adminInbox, [['secret/keys', false]], 'open/marker2')
    t.same(adminTopics.filter((topic) => topic === 'secret/keys').length, 2, 'a rule allowing admin before the deny lets it read secret/keys (retained and live)')

    const logged = b.logs.filter((l) => l.msg === 'authorization denied delivery through a wildcard subscription' && l.client === 'reader')
    t.ok(logged.length >= 1, 'the denial is logged')
    t.match(logged[0], { topic: 'secret/keys', source: 'file', rule: 'authorization.sources[0].rules:2' })
  })
}

t.test('a shared wildcard subscription and a mountpoint listener are checked too', async (t) => {
  const b = await broker(t, RULES, {
    listeners: { tcp: { default: { bind: '127.0.0.1:0' }, mounted: { bind: '127.0.0.1:0', mountpoint: 'tenant/' } } },
  })
  const pub = await client(t, b.tcpPort, { protocolVersion: 5, clientId: 'pub' })
  const member = await client(t, b.tcpPort, { protocolVersion: 5, clientId: 'member' })
  const memberInbox = collect(member)
  await member.subscribeAsync('$share/g/#', { qos: 1 })
  const topics = await publishThenMark(pub, memberInbox, [['secret/keys', false], ['open/c', false]], 'open/m1')
  t.same(topics, ['open/c', 'open/m1'], 'the shared member did not get secret/keys')

  const mounted = b.broker.port('tcp', 'mounted')
  const mpub = await client(t, mounted, { protocolVersion: 5, clientId: 'mpub' })
  const mreader = await client(t, mounted, { protocolVersion: 5, clientId: 'mreader' })
  const mInbox = collect(mreader)
  await mreader.subscribeAsync('#', { qos: 1 })
  const mTopics = await publishThenMark(mpub, mInbox, [['secret/keys', true], ['open/d', false]], 'open/m2')
  t.same(mTopics, ['open/d', 'open/m2'], 'the rules see the topic without the mountpoint: tenant/secret/keys is denied')
})

t.test('no rule that can deny a subscription: routing never asks', async (t) => {
  const open = await broker(t, '{deny, all, publish, ["x/#"]}.\n{allow, all}.')
  t.equal(open.broker.core.hooks.readGuard, undefined, 'publish-only deny rules install no read check')
  const sys = await broker(t, '{deny, all, subscribe, ["$SYS/#", {eq, "#"}]}.\n{allow, all}.')
  const guard = sys.broker.core.hooks.readGuard
  t.ok(guard, 'a subscribe deny rule installs it')
  t.equal(guard!.mayDeny('a/b'), false, 'EMQX\'s default acl.conf: an ordinary topic is not checked')
  t.equal(guard!.mayDeny('$SYS/brokers'), true, 'a $SYS topic is')
})

t.test('a token ACL deny rule is checked per delivery while its client is connected', async (t) => {
  const { SignJWT } = await import('jose')
  const b = await startBroker({ authentication: [{ mechanism: 'jwt', secret: 'emqxsecret' }] })
  t.teardown(() => b.close())
  const token = (acl?: unknown) => new SignJWT(acl === undefined ? {} : { acl }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from('emqxsecret'))
  const pub = await client(t, b.tcpPort, { protocolVersion: 5, clientId: 'pub', username: 'p', password: Buffer.from(await token()) })
  t.equal(b.broker.core.hooks.readGuard, undefined, 'no source and no token deny rule: no read check')
  const rules = [{ permission: 'deny', action: 'subscribe', topic: 'secret/#' }, { permission: 'allow', action: 'all', topic: '#' }]
  const reader = await client(t, b.tcpPort, { protocolVersion: 5, clientId: 'token-reader', username: 'r', password: Buffer.from(await token(rules)) })
  const inbox = collect(reader)
  t.ok(b.broker.core.hooks.readGuard, 'the connected token brings the read check')
  await reader.subscribeAsync('#', { qos: 1 })
  const topics = await publishThenMark(pub, inbox, [['secret/keys', false], ['open/t', false]], 'open/m3')
  t.same(topics, ['open/t', 'open/m3'], 'the token\'s deny rule kept secret/keys from #')
  await end(reader, true)
  await until(() => b.broker.core.hooks.readGuard === undefined, 'the read check to go with the token\'s client')
  t.pass('and goes with its client')
})
