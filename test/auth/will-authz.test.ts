// Will messages are authorized as a PUBLISH by their client would be (EMQX): file rules, token ACLs,
// authorization.no_match, mountpoints, QoS/retain conditions, deny_action = disconnect; sent on a lost
// connection, after the Will Delay Interval, on takeover and at shutdown. A denied will is dropped,
// counted and logged with its client, topic and reason.
import type { IClientOptions, MqttClient } from 'mqtt'
import t, { type Test } from 'tap'
import type { ClientInfo } from '../../src/mqtt/hooks.js'
import { collect, connectClient, delay, end, rawConnect, startBroker, until, type TestBroker } from '../helpers.js'

const RULES = [
  '{deny, all, publish, ["wills/denied"]}.',
  '{deny, all, {publish, [{retain, true}]}, ["wills/retained"]}.',
  '{deny, all, {publish, [{qos, 2}]}, ["wills/q2"]}.',
  '{allow, all, all, ["wills/#"]}.',
].join('\n')

async function broker (t: Test, config: Record<string, unknown> = {}, opts = {}): Promise<TestBroker> {
  const b = await startBroker({ authorization: { no_match: 'deny', sources: [{ type: 'file', rules: RULES }] }, ...config }, opts)
  t.teardown(() => b.close())
  return b
}

async function client (t: Test, port: number, opts: IClientOptions): Promise<MqttClient> {
  const c = await connectClient(port, opts)
  t.teardown(() => end(c, true))
  return c
}

async function watcher (t: Test, port: number, filter = 'wills/#', opts: IClientOptions = {}) {
  const c = await client(t, port, { clientId: 'watcher', ...opts })
  const got = collect(c)
  await c.subscribeAsync(filter, { qos: 2 })
  return got
}

/** A client with that will whose connection is lost (socket destroyed: no DISCONNECT). */
async function dropWithWill (t: Test, port: number, clientId: string, will: NonNullable<IClientOptions['will']>, opts: IClientOptions = {}): Promise<void> {
  const c = await client(t, port, { clientId, will, ...opts })
  c.stream.destroy()
}

const droppedLines = (b: TestBroker) => b.logs.filter((l) => l.msg === 'will message dropped: publish not authorized')

/** Waits until `count` wills have been dropped: every will before them has been decided by then. */
async function untilDropped (b: TestBroker, count: number): Promise<void> {
  await until(() => droppedLines(b).length >= count, `${count} dropped wills (got ${droppedLines(b).length})`, 5000)
}

for (const protocolVersion of [4, 5] as const) {
  t.test(`MQTT ${protocolVersion === 5 ? '5' : '3.1.1'}: a lost connection's will is published only where its client may publish`, async (t) => {
    const b = await broker(t)
    const got = await watcher(t, b.tcpPort, 'wills/#', { protocolVersion })
    const before = b.broker.core.metrics.messagesDropped
    await dropWithWill(t, b.tcpPort, 'bad', { topic: 'wills/denied', payload: Buffer.from('bad'), qos: 1, retain: false }, { protocolVersion })
    await dropWithWill(t, b.tcpPort, 'good', { topic: 'wills/ok', payload: Buffer.from('good'), qos: 1, retain: false }, { protocolVersion })
    await dropWithWill(t, b.tcpPort, 'ret', { topic: 'wills/retained', payload: Buffer.from('ret'), qos: 0, retain: true }, { protocolVersion })
    await dropWithWill(t, b.tcpPort, 'q2', { topic: 'wills/q2', payload: Buffer.from('q2'), qos: 2, retain: false }, { protocolVersion })
    await dropWithWill(t, b.tcpPort, 'q1', { topic: 'wills/q2', payload: Buffer.from('q1'), qos: 1, retain: false }, { protocolVersion })
    await got.waitFor(2)
    await untilDropped(b, 3)
    t.same(got.messages.map((m) => `${m.topic}=${m.payload.toString()}`).sort(), ['wills/ok=good', 'wills/q2=q1'],
      'the allowed wills arrive; denied topic, retain and QoS do not')
    t.equal(b.broker.core.retained.get('wills/retained'), undefined, 'the denied retained will was not stored')

    const lines = droppedLines(b)
    t.equal(lines.length, 3, 'one line per dropped will')
    t.match(lines.find((l) => l.client === 'bad'), { client: 'bad', topic: 'wills/denied', qos: 1, retain: false, reason: 'not authorized' })
    t.match(lines.find((l) => l.client === 'ret'), { topic: 'wills/retained', retain: true })
    t.match(lines.find((l) => l.client === 'q2'), { topic: 'wills/q2', qos: 2 })
    t.match(b.logs.find((l) => l.msg === 'authorization denied publish' && l.client === 'bad'),
      { topic: 'wills/denied', source: 'file', rule: 'authorization.sources[0].rules:1' }, 'the authorizer names the rule that denied it')
    t.equal(b.broker.core.metrics.willsNotAuthorized, 3)
    t.equal(b.broker.core.metrics.messagesDropped - before, 3, 'counted as dropped messages')
  })
}

t.test('the token ACL of the client as it authenticated decides, after its connection has gone', async (t) => {
  const b = await broker(t, {}, {
    hooks: {
      authenticate: (c: ClientInfo) => c.clientId === 'tok'
        ? { result: 'ok', acl: { format: 'rules', rules: [{ permission: 'deny', action: 'publish', topic: 'wills/${clientid}' }] } }
        : { result: 'ok' },
    },
  })
  const got = await watcher(t, b.tcpPort)
  await dropWithWill(t, b.tcpPort, 'tok', { topic: 'wills/tok', payload: Buffer.from('t'), qos: 0, retain: false }, { protocolVersion: 5 })
  await dropWithWill(t, b.tcpPort, 'other', { topic: 'wills/other', payload: Buffer.from('o'), qos: 0, retain: false }, { protocolVersion: 5 })
  await got.waitFor(1)
  await untilDropped(b, 1)
  t.same(got.messages.map((m) => m.topic), ['wills/other'])
  t.match(droppedLines(b), [{ client: 'tok', topic: 'wills/tok' }])
  t.match(b.logs.find((l) => l.msg === 'authorization denied publish' && l.client === 'tok'), { source: 'token_acl', rule: 'rules[0]' })
})

t.test('authorization.no_match with no rules: deny drops every will, allow sends it', async (t) => {
  for (const noMatch of ['deny', 'allow'] as const) {
    // The watcher is a superuser, so that it may subscribe under no_match = deny.
    const b = await startBroker({ authorization: { no_match: noMatch, sources: [] } }, {
      hooks: { authenticate: (c: ClientInfo) => ({ result: 'ok', isSuperuser: c.clientId === 'watcher' }) },
    })
    t.teardown(() => b.close())
    const got = await watcher(t, b.tcpPort, '#')
    await dropWithWill(t, b.tcpPort, `nm-${noMatch}`, { topic: 'any/topic', payload: Buffer.from(noMatch), qos: 1, retain: false })
    if (noMatch === 'allow') {
      await got.waitFor(1)
      t.same(got.messages.map((m) => m.payload.toString()), ['allow'], 'no_match = allow: the will is published')
      t.equal(droppedLines(b).length, 0)
    } else {
      await untilDropped(b, 1)
      t.same(got.messages, [], 'no_match = deny: the will is dropped')
      t.match(droppedLines(b), [{ client: 'nm-deny', topic: 'any/topic', reason: 'not authorized' }])
      t.match(b.logs.find((l) => l.msg === 'authorization denied publish'), { client: 'nm-deny', source: 'no_match' })
      t.equal(b.broker.core.metrics.willsNotAuthorized, 1)
    }
  }
})

t.test('a listener mountpoint: rules see the will topic as the client wrote it', async (t) => {
  const b = await broker(t, {
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0', mountpoint: 'tenant/${clientid}/' }, plain: { bind: '127.0.0.1:0' } },
      ws: { default: { bind: '127.0.0.1:0' } },
    },
  }, { hooks: { authenticate: (c: ClientInfo) => ({ result: 'ok', isSuperuser: c.clientId === 'watcher' }) } })
  const got = await watcher(t, b.broker.port('tcp', 'plain'), 'tenant/#')
  await dropWithWill(t, b.tcpPort, 'm1', { topic: 'wills/denied', payload: Buffer.from('x'), qos: 0, retain: false })
  await dropWithWill(t, b.tcpPort, 'm2', { topic: 'wills/ok', payload: Buffer.from('y'), qos: 0, retain: false })
  await got.waitFor(1)
  await untilDropped(b, 1)
  t.same(got.messages.map((m) => m.topic), ['tenant/m2/wills/ok'])
  t.match(droppedLines(b), [{ client: 'm1', topic: 'tenant/m1/wills/denied' }])
  t.match(b.logs.find((l) => l.msg === 'authorization denied publish'), { client: 'm1', topic: 'wills/denied' })
})

t.test('Will Delay Interval, takeover and shutdown go through the same check', async (t) => {
  const b = await broker(t)
  let closed = false
  t.teardown(() => { if (!closed) return b.close() })
  const got = await watcher(t, b.tcpPort, 'wills/#', { protocolVersion: 5 })

  // Delayed: the will is authorized when the delay ends.
  const willDelay = { topic: 'wills/denied', payload: Buffer.from('delayed'), qos: 0 as const, retain: false, properties: { willDelayInterval: 1 } }
  await dropWithWill(t, b.tcpPort, 'delayed', willDelay, { protocolVersion: 5, properties: { sessionExpiryInterval: 10 } })
  // A timer under test. It cannot end late relative to the will's: both run in this process, and this one
  // started first and is the shorter, so it fires first however loaded the machine is.
  await delay(300)
  t.equal(droppedLines(b).length, 0, 'nothing decided before the delay ends')
  await untilDropped(b, 1)
  t.match(droppedLines(b), [{ client: 'delayed', topic: 'wills/denied' }], 'dropped when the delay ended')

  // Takeover: the old connection's will is checked.
  await client(t, b.tcpPort, { clientId: 'twin', protocolVersion: 5, will: { topic: 'wills/denied', payload: Buffer.from('twin'), qos: 0, retain: false } })
  await client(t, b.tcpPort, { clientId: 'twin', protocolVersion: 5 })
  await untilDropped(b, 2)
  t.match(droppedLines(b).at(-1), { client: 'twin', topic: 'wills/denied' }, 'the taken-over client\'s will is dropped')

  // Shutdown: both wills are decided before the watcher is disconnected.
  const { raw: r1 } = await rawConnect(b.tcpPort, 5, { clientId: 'sd-bad', will: { topic: 'wills/denied', payload: Buffer.from('sd-bad'), qos: 0, retain: false } })
  const { raw: r2 } = await rawConnect(b.tcpPort, 5, { clientId: 'sd-good', will: { topic: 'wills/ok', payload: Buffer.from('sd-good'), qos: 0, retain: false } })
  t.teardown(() => { r1.socket.destroy(); r2.socket.destroy() })
  closed = true
  await b.close()
  await got.waitFor(1)
  t.same(got.messages.map((m) => m.payload.toString()), ['sd-good'], 'only the allowed will went out, at shutdown')
  t.match(droppedLines(b).at(-1), { client: 'sd-bad', topic: 'wills/denied' })
  t.equal(b.broker.core.metrics.willsNotAuthorized, 3)
})

t.test('deny_action = disconnect: a denied will is dropped, nothing else happens', async (t) => {
  const b = await broker(t, { authorization: { no_match: 'deny', deny_action: 'disconnect', sources: [{ type: 'file', rules: RULES }] } })
  const got = await watcher(t, b.tcpPort)
  await dropWithWill(t, b.tcpPort, 'dd', { topic: 'wills/denied', payload: Buffer.from('x'), qos: 0, retain: false })
  await dropWithWill(t, b.tcpPort, 'dg', { topic: 'wills/ok', payload: Buffer.from('y'), qos: 0, retain: false })
  await got.waitFor(1)
  await untilDropped(b, 1)
  t.same(got.messages.map((m) => m.topic), ['wills/ok'])
  t.match(droppedLines(b), [{ client: 'dd', topic: 'wills/denied', reason: /authorization failed: not authorized to publish "wills\/denied"/ }])
})

t.test('an asynchronous authorizePublish hook decides wills too, also at shutdown', async (t) => {
  const b = await startBroker()
  let closed = false
  t.teardown(() => { if (!closed) return b.close() })
  b.broker.addHook('authorizePublish', async (c, m) => {
    await delay(20) // a slow hook
    return m.topic === 'wills/x' && c.clientId.startsWith('no-') ? 'deny' : undefined
  })
  const got = await watcher(t, b.tcpPort)
  await dropWithWill(t, b.tcpPort, 'no-1', { topic: 'wills/x', payload: Buffer.from('no'), qos: 0, retain: false })
  await dropWithWill(t, b.tcpPort, 'yes-1', { topic: 'wills/x', payload: Buffer.from('yes'), qos: 0, retain: false })
  await got.waitFor(1)
  await untilDropped(b, 1)
  t.same(got.messages.map((m) => m.payload.toString()), ['yes'])
  t.match(droppedLines(b), [{ client: 'no-1' }])

  const { raw } = await rawConnect(b.tcpPort, 4, { clientId: 'yes-2', will: { topic: 'wills/x', payload: Buffer.from('at shutdown'), qos: 0, retain: false } })
  t.teardown(() => raw.socket.destroy())
  closed = true
  await b.close()
  await got.waitFor(2)
  t.same(got.messages.map((m) => m.payload.toString()), ['yes', 'at shutdown'], 'the will waited for the hook, then reached the watcher before it was disconnected')
})

t.test('a $SYS will topic is still refused at CONNECT', async (t) => {
  const b = await broker(t)
  const { connack } = await rawConnect(b.tcpPort, 5, { clientId: 'sys', will: { topic: '$SYS/x', payload: Buffer.from('x'), qos: 0, retain: false } })
  t.equal(connack.reasonCode, 0x87)
})
