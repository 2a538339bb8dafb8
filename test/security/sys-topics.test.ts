// $SYS belongs to the broker: a client PUBLISH there is refused whatever the ACL says (MQTT 5: PUBACK /
// PUBREC 0x87 Not authorized; MQTT 3.1.1: acknowledged as usual, since it has no way to refuse, but not
// routed or retained), and so is a will on a $SYS topic (CONNACK 0x87 / 5). Subscribing to $SYS is left
// to authorization (etc/acl.conf, as EMQX), and the broker's own $SYS messages still arrive.
import t from 'tap'
import { collect, connectClient, end, ping, rawConnect, startBroker } from '../helpers.js'

// The broker's client event messages (sys_event_messages) would arrive among what is checked here: off.
const b = await startBroker({ sys_topics: { sys_msg_interval: 'disabled', sys_heartbeat_interval: '1s', sys_event_messages: { client_connected: false, client_disconnected: false } } })
t.teardown(() => b.close())

const watcher = await connectClient(b.tcpPort, { protocolVersion: 5, clientId: 'sys-watcher' })
t.teardown(() => end(watcher, true))
await watcher.subscribeAsync(['$SYS/#', 'spoof/#'], { qos: 1 })
const inbox = collect(watcher)

const fromClients = () => inbox.messages.filter((m) => /spoof|client/.test(m.payload.toString()))

t.test('MQTT 5: PUBACK and PUBREC 0x87, nothing routed', async (t) => {
  const { raw } = await rawConnect(b.tcpPort, 5, { clientId: 'spoofer-5' })
  t.teardown(() => { raw.socket.destroy() })
  raw.send({ cmd: 'publish', topic: '$SYS/brokers/culex@127.0.0.1/uptime', payload: Buffer.from('client q1'), qos: 1, messageId: 1, retain: false, dup: false })
  const puback = await raw.take('puback')
  t.equal(puback.reasonCode, 0x87, 'PUBACK 0x87 Not authorized')
  t.match(puback.properties?.reasonString, /\$SYS topics are published only by the broker/)
  raw.send({ cmd: 'publish', topic: '$SYS/x', payload: Buffer.from('client q2'), qos: 2, messageId: 2, retain: true, dup: false })
  t.equal((await raw.take('pubrec')).reasonCode, 0x87, 'PUBREC 0x87')
  raw.send({ cmd: 'publish', topic: '$SYS', payload: Buffer.from('client q0'), qos: 0, retain: false, dup: false })
  raw.send({ cmd: 'publish', topic: 'spoof/ok', payload: Buffer.from('spoof marker'), qos: 1, messageId: 3, retain: false, dup: false })
  t.equal((await raw.take('puback')).reasonCode ?? 0, 0, 'an ordinary topic is still accepted')
  await inbox.waitFor(1)
  t.same(fromClients().map((m) => m.topic), ['spoof/ok'], 'only the ordinary message was routed')
  t.notOk(raw.isClosed(), 'the client stays connected')
  t.ok(b.logs.some((l) => l.msg === 'PUBLISH refused: $SYS topics are published only by the broker' && l.topic === '$SYS/x'), 'logged')
})

t.test('MQTT 3.1.1: acknowledged, but neither routed nor retained', async (t) => {
  const { raw } = await rawConnect(b.tcpPort, 4, { clientId: 'spoofer-4' })
  t.teardown(() => { raw.socket.destroy() })
  raw.send({ cmd: 'publish', topic: '$SYS/brokers/fake', payload: Buffer.from('client v4 q1'), qos: 1, messageId: 7, retain: true, dup: false })
  t.equal((await raw.take('puback')).messageId, 7, 'PUBACK (MQTT 3 cannot refuse)')
  raw.send({ cmd: 'publish', topic: '$SYS/brokers/fake', payload: Buffer.from('client v4 q0'), qos: 0, retain: true, dup: false })
  raw.send({ cmd: 'pingreq' })
  await raw.take('pingresp')
  await ping(watcher) // both were routed before the PINGRESP: a round trip on the watcher brings what was sent to it
  t.same(fromClients().map((m) => m.topic), ['spoof/ok'], 'nothing more was routed')
  t.equal(b.broker.core.retained.get('$SYS/brokers/fake'), undefined, 'nothing was retained')
})

t.test('a will on a $SYS topic is refused at CONNECT', async (t) => {
  const will = { topic: '$SYS/brokers/culex@127.0.0.1/clients/x/disconnected', payload: Buffer.from('client will'), qos: 0 as const, retain: false }
  const v5 = await rawConnect(b.tcpPort, 5, { clientId: 'will-5', will })
  t.teardown(() => { v5.raw.socket.destroy() })
  t.equal(v5.connack.reasonCode, 0x87, 'MQTT 5: CONNACK 0x87')
  const v4 = await rawConnect(b.tcpPort, 4, { clientId: 'will-4', will })
  t.teardown(() => { v4.raw.socket.destroy() })
  t.equal(v4.connack.returnCode, 5, 'MQTT 3.1.1: CONNACK 5 not authorized')
  await v4.raw.closed
  t.same(fromClients().map((m) => m.topic), ['spoof/ok'], 'no will was published')
})

t.test('the broker itself still publishes on $SYS', async (t) => {
  const own = await inbox.waitFor(inbox.messages.length + 1, 3000)
  t.ok(own.some((m) => m.topic.startsWith('$SYS/brokers/') && m.topic.endsWith('/uptime')), 'the heartbeat arrives')
  b.broker.publish('$SYS/culex/test', 'from the library')
  await inbox.waitFor(inbox.messages.length + 1)
  t.ok(inbox.messages.some((m) => m.topic === '$SYS/culex/test'), 'Broker.publish reaches $SYS')
})

t.test('behind a mountpoint, $SYS/... is the client\'s own topic', async (t) => {
  const m = await startBroker({ listeners: { tcp: { default: { bind: '127.0.0.1:0', mountpoint: 'tenant/' } } } })
  t.teardown(() => m.close())
  const { raw } = await rawConnect(m.tcpPort, 5, { clientId: 'tenant-client' })
  t.teardown(() => { raw.socket.destroy() })
  raw.send({ cmd: 'publish', topic: '$SYS/x', payload: Buffer.from('mine'), qos: 1, messageId: 1, retain: false, dup: false })
  t.equal((await raw.take('puback')).reasonCode ?? 0, 0, 'accepted: it is routed as tenant/$SYS/x')
})
