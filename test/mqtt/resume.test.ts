// Resuming someone else's persistent session (issue 15 item 6): with mqtt.session_owner_check (the default)
// another user name is refused and the owner's session is untouched; with it off, the session's subscriptions
// and queued messages are authorized again for the new user, who gets nothing the ACL keeps from them.
import type { MqttClient } from 'mqtt'
import t, { type Test } from 'tap'
import { collect, connectClient, connectCollecting, end, rawConnect, startBroker, type TestBroker } from '../helpers.js'

const RULES = [
  '{allow, {username, "alice"}, subscribe, ["alice/#"]}.',
  '{allow, {username, "bob"}, subscribe, ["bob/#"]}.',
  '{allow, all, publish, ["#"]}.',
].join('\n')

async function broker (t: Test, mqtt: Record<string, unknown> = {}, authorization: Record<string, unknown> = {}): Promise<TestBroker> {
  const b = await startBroker({ mqtt, authorization: { no_match: 'deny', sources: [{ type: 'file', rules: RULES }], ...authorization } })
  t.teardown(() => b.close())
  return b
}

/** alice's persistent session `shared-id`, subscribed to alice/#, offline with alice/secret queued (QoS 1). */
async function aliceSessionWithQueue (t: Test, b: TestBroker): Promise<void> {
  const alice = await connectClient(b.tcpPort, { clientId: 'shared-id', clean: false, username: 'alice' })
  await alice.subscribeAsync('alice/#', { qos: 1 })
  await end(alice)
  const pub = await connectClient(b.tcpPort, { clientId: 'publisher', username: 'pub' })
  t.teardown(() => end(pub, true))
  await pub.publishAsync('alice/secret', 'for alice only', { qos: 1 })
  t.equal(b.broker.core.sessions.get('shared-id')?.queueLength, 1, 'alice/secret is queued in alice\'s session')
}

const keep = (t: Test, c: MqttClient) => { t.teardown(() => end(c, true)) }

t.test('session_owner_check (default): bob cannot resume alice\'s session; alice keeps it and her queue', async (t) => {
  const b = await broker(t)
  await aliceSessionWithQueue(t, b)

  const v4 = await rawConnect(b.tcpPort, 4, { clientId: 'shared-id', clean: false, username: 'bob' })
  t.teardown(() => v4.raw.socket.destroy())
  t.equal(v4.connack.returnCode, 5, 'MQTT 3.1.1: CONNACK 5 Not authorized')
  t.equal(v4.connack.sessionPresent, false)
  const v5 = await rawConnect(b.tcpPort, 5, { clientId: 'shared-id', clean: false, username: 'bob', properties: { sessionExpiryInterval: 60 } })
  t.teardown(() => v5.raw.socket.destroy())
  t.equal(v5.connack.reasonCode, 0x87, 'MQTT 5: CONNACK 0x87 Not authorized')
  const anonymous = await rawConnect(b.tcpPort, 4, { clientId: 'shared-id', clean: false })
  t.teardown(() => anonymous.raw.socket.destroy())
  t.equal(anonymous.connack.returnCode, 5, 'no user name is another user name too')
  t.ok(b.logs.some((l) => String(l.msg).startsWith('refused CONNECT: the session belongs to another user name')), 'each refusal is logged with its reason')

  const back = await connectCollecting(b.tcpPort, { clientId: 'shared-id', clean: false, username: 'alice' })
  keep(t, back.client)
  t.equal(back.sessionPresent, true, 'alice resumes her session')
  t.same((await back.got.waitFor(1)).map((m) => [m.topic, m.payload.toString()]), [['alice/secret', 'for alice only']], 'with her queued message')

  // While alice is connected, bob's attempt does not take her connection over.
  const again = await rawConnect(b.tcpPort, 4, { clientId: 'shared-id', clean: false, username: 'bob' })
  t.teardown(() => again.raw.socket.destroy())
  t.equal(again.connack.returnCode, 5)
  t.ok(back.client.connected, 'alice is still connected')
  t.equal(b.broker.core.clients.get('shared-id')?.client?.username, 'alice')
})

for (const denyAction of ['ignore', 'disconnect']) {
  t.test(`session_owner_check = false: bob resumes alice's session without her subscriptions or queued messages (deny_action = ${denyAction})`, async (t) => {
    const b = await broker(t, { session_owner_check: false }, { deny_action: denyAction })
    await aliceSessionWithQueue(t, b)

    const bob = await connectCollecting(b.tcpPort, { clientId: 'shared-id', clean: false, username: 'bob' })
    keep(t, bob.client)
    t.equal(bob.sessionPresent, true, 'the session is resumed')
    const session = b.broker.core.sessions.get('shared-id')!
    t.same([...session.subscriptions.keys()], [], 'alice/# is dropped: bob may not subscribe to it')
    t.equal(session.owner, 'bob', 'the session is bob\'s now')
    t.ok(b.logs.some((l) => String(l.msg).startsWith('resumed session authorized again') && (l.messages as number) === 1), 'the drops are logged')

    // A marker bob may read: had alice/secret been delivered, it would have come first (the queue goes right after CONNACK).
    await bob.client.subscribeAsync('bob/#', { qos: 1 })
    const pub = await connectClient(b.tcpPort, { clientId: 'publisher-2', username: 'pub' })
    keep(t, pub)
    await pub.publishAsync('alice/later', 'x', { qos: 1 })
    await pub.publishAsync('bob/marker', 'm', { qos: 1 })
    t.same((await bob.got.waitFor(1)).map((m) => m.topic), ['bob/marker'])
    t.same(bob.got.messages.map((m) => m.topic), ['bob/marker'], 'neither the queued alice/secret nor a later alice/ message reached bob')
  })
}

t.test('the owner resuming is authorized again and keeps what the ACL still grants', async (t) => {
  const b = await broker(t)
  const carol = await connectClient(b.tcpPort, { clientId: 'carol-id', clean: false, username: 'alice' })
  await carol.subscribeAsync('alice/#', { qos: 1 })
  await end(carol)
  // The same user name, allowed as before: nothing is dropped.
  const again = await connectCollecting(b.tcpPort, { clientId: 'carol-id', clean: false, username: 'alice' })
  keep(t, again.client)
  t.equal(again.sessionPresent, true)
  t.same([...b.broker.core.sessions.get('carol-id')!.subscriptions.keys()], ['alice/#'])
  const got = collect(again.client)
  const pub = await connectClient(b.tcpPort, { clientId: 'publisher-3' })
  keep(t, pub)
  await pub.publishAsync('alice/x', 'y', { qos: 1 })
  t.equal((await got.waitFor(1))[0]?.topic, 'alice/x', 'the resumed subscription still delivers')
})

t.test('the owner is kept with the session across a restart (durable storage)', async (t) => {
  const dir = t.testdir({})
  const config = { node: { data_dir: dir }, durable_storage: { backend: 'lmdb' }, authorization: { no_match: 'deny', sources: [{ type: 'file', rules: RULES }] } }
  const first = await startBroker(config)
  const alice = await connectClient(first.tcpPort, { clientId: 'kept-id', clean: false, username: 'alice' })
  await alice.subscribeAsync('alice/#', { qos: 1 })
  await end(alice)
  await first.close()

  const second = await startBroker(config)
  t.teardown(() => second.close())
  t.equal(second.broker.core.sessions.get('kept-id')?.owner, 'alice', 'restored with its owner')
  const bob = await rawConnect(second.tcpPort, 4, { clientId: 'kept-id', clean: false, username: 'bob' })
  t.teardown(() => bob.raw.socket.destroy())
  t.equal(bob.connack.returnCode, 5, 'bob is refused after the restart too')
})
