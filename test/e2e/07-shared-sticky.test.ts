// mqtt.shared_subscription_initial_sticky_pick (EMQX 5.8): how the sticky strategy picks a group's member
// the first time, and again when that member goes; the group then sticks to it.
import t, { type Test } from 'tap'
import type { MqttClient } from 'mqtt'
import { collect, connectClient, end, probe, startBroker, until, type Inbox, type TestBroker } from '../helpers.js'

/** The hash the broker documents for hash_topic and hash_clientid: h = h * 31 + code unit, 32 bits. */
function hash (text: string): number {
  let h = 0
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0
  return h >>> 0
}

interface Group { b: TestBroker, members: MqttClient[], inboxes: Inbox[], pub: MqttClient }

/** A broker with sticky and this first pick; three members subscribed in order m0, m1, m2 to each filter. */
async function group (t: Test, initial: string, filters: string[], pubId = 'publisher'): Promise<Group> {
  const b = await startBroker({ mqtt: { shared_subscription_strategy: 'sticky', shared_subscription_initial_sticky_pick: initial } })
  t.teardown(() => b.close())
  const members: MqttClient[] = []
  for (const i of [0, 1, 2]) members.push(await connectClient(b.tcpPort, { protocolVersion: 5, clientId: `m${i}` }))
  const inboxes = members.map(collect)
  for (const filter of filters) for (const m of members) await m.subscribeAsync(filter, { qos: 1 })
  for (const m of members) await m.subscribeAsync('probe/sticky', { qos: 2 })
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5, clientId: pubId })
  t.teardown(async () => {
    await end(pub, true)
    for (const m of members) await end(m, true)
  })
  return { b, members, inboxes, pub }
}

const counts = (inboxes: Inbox[]) => inboxes.map((i) => i.messages.length)

/** Ends member `n` (a clean session) and waits until the broker has let its session go. */
async function leave (g: Group, n: number): Promise<void> {
  await end(g.members[n]!)
  await until(() => g.b.broker.core.sessions.get(`m${n}`) === undefined, `m${n}'s session to end`)
}

t.test('hash_clientid: the publisher\'s client identifier picks the member online, first and after it goes', async (t) => {
  const pubId = 'sensor-gateway-42'
  const g = await group(t, 'hash_clientid', ['$share/g/job/#'], pubId)
  for (let i = 0; i < 6; i++) await g.pub.publishAsync(`job/${i}`, String(i), { qos: 1 })
  await probe(g.pub, 'probe/sticky', g.inboxes)
  const first = hash(pubId) % 3
  t.same(counts(g.inboxes), [0, 1, 2].map((n) => (n === first ? 6 : 0)), `all six to m${first}, the hash of the client id over three`)

  await leave(g, first)
  const left = [0, 1, 2].filter((n) => n !== first)
  const second = left[hash(pubId) % 2]!
  for (let i = 6; i < 10; i++) await g.pub.publishAsync(`job/${i}`, String(i), { qos: 1 })
  await probe(g.pub, 'probe/sticky', left.map((n) => g.inboxes[n]!))
  t.same(left.map((n) => g.inboxes[n]!.messages.length), left.map((n) => (n === second ? 4 : 0)),
    `the sticky member gone, the hash over the two left picks m${second}, which keeps the rest`)
})

t.test('hash_topic: the first message\'s topic picks the member; later topics stay with it', async (t) => {
  const g = await group(t, 'hash_topic', ['$share/g/job/#'])
  const firstTopic = 'job/start'
  await g.pub.publishAsync(firstTopic, 'first', { qos: 1 })
  for (let i = 0; i < 5; i++) await g.pub.publishAsync(`job/other/${i}`, String(i), { qos: 1 })
  await probe(g.pub, 'probe/sticky', g.inboxes)
  const first = hash(firstTopic) % 3
  t.same(counts(g.inboxes), [0, 1, 2].map((n) => (n === first ? 6 : 0)), `all to m${first}, the hash of "${firstTopic}" over three`)
  t.equal(g.inboxes[first]!.messages[0]!.topic, firstTopic)
})

t.test('random (the default): each group sticks to one member, and the first picks are not all the same member', async (t) => {
  const filters = Array.from({ length: 24 }, (_, k) => `$share/g/r/${k}`)
  const g = await group(t, 'random', filters)
  for (let k = 0; k < 24; k++) {
    await g.pub.publishAsync(`r/${k}`, `${k}-a`, { qos: 1 })
    await g.pub.publishAsync(`r/${k}`, `${k}-b`, { qos: 1 })
  }
  await probe(g.pub, 'probe/sticky', g.inboxes)
  const holder = (k: number) => g.inboxes.findIndex((i) => i.messages.some((m) => m.topic === `r/${k}`))
  const holders = Array.from({ length: 24 }, (_, k) => holder(k))
  t.ok(holders.every((h, k) => g.inboxes[h]!.messages.filter((m) => m.topic === `r/${k}`).length === 2), 'both messages of each group to one member')
  t.ok(new Set(holders).size > 1, `first picks spread over the members (${holders.join(',')}); all the same would be m0 always before`)
})

t.test('an unknown first pick is refused at start, naming the key', async (t) => {
  await t.rejects(startBroker({ mqtt: { shared_subscription_initial_sticky_pick: 'round_robin' } }), { message: /mqtt\.shared_subscription_initial_sticky_pick/ })
})
