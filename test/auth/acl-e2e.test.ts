// Authorization end to end with MQTT.js v5 and v3.1.1: SUBACK 0x87/0x80, PUBACK 0x87, undelivered
// messages, deny_action = disconnect, token ACLs from the authenticate hook, the cache, the denial log.
import type { IClientSubscribeOptions, MqttClient } from 'mqtt'
import t, { type Test } from 'tap'
import type { AuthzRequest } from '../../src/auth/authz.js'
import type { ClientInfo } from '../../src/mqtt/hooks.js'
import { collect, connectOwned, delay, end, ping, startBroker, type TestBroker } from '../helpers.js'

const RULES = [
  '{allow, {username, "watcher"}, subscribe, ["#"]}.',
  '{deny, all, publish, ["secret/#"]}.',
  '{deny, all, subscribe, ["secret/#", {eq, "#"}]}.',
  '{allow, all, all, ["open/#", "c/${clientid}/#"]}.',
].join('\n')

async function broker (t: Test, authorization: Record<string, unknown> = {}, opts = {}): Promise<TestBroker> {
  const b = await startBroker({ authorization: { no_match: 'deny', sources: [{ type: 'file', rules: RULES }], ...authorization } }, opts)
  t.teardown(() => b.close())
  return b
}

const client = connectOwned

/** The SUBACK codes; MQTT.js reports a refused filter as an error carrying the SUBACK. */
function subscribe (c: MqttClient, topic: string, opts: Partial<IClientSubscribeOptions> = { qos: 1 }): Promise<number[]> {
  return new Promise((resolve, reject) => c.subscribe(topic, opts as IClientSubscribeOptions, (err, granted) => {
    const suback = (err as { packet?: { granted?: number[] } } | null)?.packet?.granted
    if (suback) resolve(suback)
    else if (err) reject(err)
    else resolve(granted!.map((g) => g.qos))
  }))
}

function publish (c: MqttClient, topic: string, qos: 0 | 1 | 2 = 1): Promise<Error | undefined> {
  return new Promise((resolve) => c.publish(topic, 'x', { qos }, (err) => resolve(err ?? undefined)))
}

for (const protocolVersion of [5, 4] as const) {
  const v5 = protocolVersion === 5
  t.test(`MQTT ${v5 ? '5' : '3.1.1'}: subscriptions and publishes outside the ACL`, async (t) => {
    const b = await broker(t)
    const watcher = await client(t, b.tcpPort, { protocolVersion, username: 'watcher', clientId: `w${protocolVersion}` })
    const seen = collect(watcher)
    t.same((await subscribe(watcher, '#')), [1], 'the watcher may subscribe to #')

    const dev = await client(t, b.tcpPort, { protocolVersion, clientId: `d${protocolVersion}` })
    const denied = v5 ? 0x87 : 0x80
    t.same((await subscribe(dev, '#')), [denied], '{eq, "#"} denies the literal #')
    t.same((await subscribe(dev, 'secret/a')), [denied])
    t.same((await subscribe(dev, 'unlisted')), [denied], 'no_match = deny')
    t.same((await subscribe(dev, 'open/+')), [1])
    t.same((await subscribe(dev, `c/d${protocolVersion}/#`)), [1], '${clientid} expands')
    t.same((await subscribe(dev, '$share/g/open/x')), [1], 'a shared subscription is checked by its filter')

    const err = await publish(dev, 'secret/x', 1)
    if (v5) t.match(err, { code: 0x87 }, 'PUBACK 0x87')
    else t.equal(err, undefined, 'MQTT 3 gets a plain PUBACK and the message is dropped')
    t.equal(await publish(dev, 'secret/y', 0), undefined)
    t.equal(await publish(dev, 'open/z', 1), undefined)
    const messages = await seen.waitFor(1)
    // Every publish of dev's was routed before its last PUBACK: a round trip on the watcher brings anything sent to it.
    await ping(watcher)
    t.same(messages.map((m) => m.topic), ['open/z'], 'the denied messages were not delivered')
    t.equal(dev.connected, true, 'deny_action = ignore keeps the client')

    const line = b.logs.find((l) => l.msg === 'authorization denied publish' && l.topic === 'secret/x')
    t.match(line, { client: `d${protocolVersion}`, listener: 'tcp:default', action: 'publish', topic: 'secret/x', source: 'file', rule: 'authorization.sources[0].rules:2' })
    t.equal(b.logs.filter((l) => l.msg === 'authorization denied subscribe' && l.client === `d${protocolVersion}`).length, 3, 'one line per denial')
  })

  t.test(`MQTT ${v5 ? '5' : '3.1.1'}: deny_action = disconnect`, async (t) => {
    const b = await broker(t, { deny_action: 'disconnect' })
    const pubber = await client(t, b.tcpPort, { protocolVersion, clientId: `p${protocolVersion}` })
    const reason = new Promise<number | undefined>((resolve) => pubber.once('disconnect', (p) => resolve(p.reasonCode)))
    const closed = new Promise<void>((resolve) => pubber.once('close', () => resolve()))
    t.equal(await publish(pubber, 'open/ok', 1), undefined, 'an allowed publish is acknowledged')
    pubber.publish('secret/x', 'x', { qos: 1 })
    await closed
    if (v5) t.equal(await Promise.race([reason, delay(1000).then(() => 'none')]), 0x87, 'DISCONNECT 0x87')

    const subber = await client(t, b.tcpPort, { protocolVersion, clientId: `s${protocolVersion}` })
    const subClosed = new Promise<void>((resolve) => subber.once('close', () => resolve()))
    subber.subscribe(['open/a', 'secret/b'], { qos: 1 })
    await subClosed
    t.pass('a denied subscription closes the client')
    t.equal(b.broker.core.tree.match('open/a').subscriptions.length, 0, 'nothing of the refused SUBSCRIBE was subscribed')
  })
}

t.test('token ACL from the authenticate hook, both formats', async (t) => {
  const b = await broker(t, {}, {
    hooks: {
      authenticate: (c: ClientInfo) => c.clientId === 'old'
        ? { result: 'ok', acl: { format: 'lists', pub: ['tok/pub'], sub: ['tok/#'], all: [] } }
        : c.clientId === 'new'
          ? { result: 'ok', acl: { format: 'rules', rules: [{ permission: 'deny', action: 'all', topic: 'open/blocked' }, { permission: 'allow', action: 'subscribe', topic: 'tok/#' }] } }
          : c.clientId === 'root' ? { result: 'ok', isSuperuser: true } : { result: 'ok' },
    },
  })
  const old = await client(t, b.tcpPort, { protocolVersion: 5, clientId: 'old' })
  t.same((await subscribe(old, 'tok/a')), [1])
  t.same((await subscribe(old, 'open/a')), [0x87], 'old format: outside the lists is denied though the file allows it')
  t.match(await publish(old, 'tok/a'), { code: 0x87 }, 'tok/a is in sub, not pub')
  t.equal(await publish(old, 'tok/pub'), undefined)

  const fresh = await client(t, b.tcpPort, { protocolVersion: 5, clientId: 'new' })
  t.same((await subscribe(fresh, 'tok/a')), [1])
  t.same((await subscribe(fresh, 'open/blocked')), [0x87], 'new format: a deny rule decides')
  t.same((await subscribe(fresh, 'open/a')), [1], 'new format: no match asks the file')
  t.same((await subscribe(fresh, 'secret/a')), [0x87])

  const root = await client(t, b.tcpPort, { protocolVersion: 5, clientId: 'root' })
  t.same((await subscribe(root, 'secret/#')), [1], 'a superuser bypasses the rules')
  t.equal(await publish(root, 'secret/x'), undefined)
})

t.test('listener mountpoint: rules see the topic the client wrote', async (t) => {
  const b = await startBroker({
    listeners: { tcp: { default: { bind: '127.0.0.1:0', mountpoint: 'tenant/${clientid}/' } } },
    authorization: { no_match: 'deny', sources: [{ type: 'file', rules: '{allow, all, all, ["open/#"]}.' }] },
  })
  t.teardown(() => b.close())
  const c = await client(t, b.tcpPort, { protocolVersion: 5, clientId: 'm1' })
  t.same((await subscribe(c, 'open/a')), [1])
  t.equal(await publish(c, 'open/a'), undefined)
  t.match(await publish(c, 'tenant/m1/open/a'), { code: 0x87 })
})

t.test('cached decisions are reused until the client disconnects', async (t) => {
  const b = await broker(t)
  const calls: string[] = []
  b.broker.authz.addSource({ id: 'counting', authorize: (_c: ClientInfo, r: AuthzRequest) => { calls.push(r.topic); return undefined } })
  const c = await client(t, b.tcpPort, { protocolVersion: 5, clientId: 'cache1' })
  t.match(await publish(c, 'counted'), { code: 0x87 })
  t.match(await publish(c, 'counted'), { code: 0x87 })
  t.same(calls, ['counted'], 'the second decision came from the cache')
  const lines = b.logs.filter((l) => l.msg === 'authorization denied publish' && l.topic === 'counted')
  t.same(lines.map((l) => [l.source, l.cached]), [['no_match', false], ['no_match', true]])
  await end(c)
  const again = await client(t, b.tcpPort, { protocolVersion: 5, clientId: 'cache1' })
  t.match(await publish(again, 'counted'), { code: 0x87 })
  t.same(calls, ['counted', 'counted'], 'the cache went with the connection')
})

t.test('without an authorization section, clients are not restricted and other hooks still decide', async (t) => {
  const b = await startBroker({}, { hooks: {} })
  t.teardown(() => b.close())
  b.broker.addHook('authorizePublish', (_c, m) => (m.topic === 'hooked' ? 'deny' : undefined))
  const c = await client(t, b.tcpPort, { protocolVersion: 5 })
  t.same((await subscribe(c, '#')), [1])
  t.equal(await publish(c, 'any/topic'), undefined)
  t.match(await publish(c, 'hooked'), { code: 0x87 }, 'no_match = allow leaves the answer to later hooks')
})
