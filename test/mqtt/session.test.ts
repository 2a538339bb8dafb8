import type { QoS } from 'mqtt-packet'
import t from 'tap'
import { createMessage } from '../../src/mqtt/message.js'
import { Session, type Delivery, type SessionLink } from '../../src/mqtt/session.js'
import type { SharedGroup } from '../../src/mqtt/topic-tree.js'

/** Records what the session hands to its connection. */
class Recorder implements SessionLink {
  readonly sent: { topic: string, id: number, qos: number, dup: boolean }[] = []
  readonly pubrels: number[] = []
  /** How often the session asked for the sweep's care (in-flight messages appeared). */
  attended = 0
  constructor (readonly sendWindow: number) {}
  attend (): void { this.attended++ }
  sendPublish (d: Delivery, dup: boolean): void { this.sent.push({ topic: d.message.topic, id: d.packetId, qos: d.qos, dup }) }
  sendPubrel (packetId: number): void { this.pubrels.push(packetId) }
  topics (): string[] { return this.sent.map((s) => s.topic) }
}

const GROUP: SharedGroup<Session> = { key: 'g/s/#', name: 'g', filter: 's/#', members: [], next: 0, sticky: null }

function delivery (topic: string, qos: QoS = 1, opts: { group?: boolean, expired?: boolean } = {}): Delivery {
  const message = opts.expired
    ? createMessage(topic, Buffer.from(topic), qos, false, { messageExpiryInterval: 1 }, undefined, Date.now() - 5000)
    : createMessage(topic, Buffer.from(topic), qos, false)
  return { message, qos, retain: false, subIds: undefined, group: opts.group ? GROUP : undefined, packetId: 0, state: 'publish', sentAt: 0 }
}

const session = (maxQueue = 1000, storeQos0 = true) => new Session('c', { maxQueue, storeQos0 })

t.test('an offline queue keeps the newest max_mqueue_len messages and counts the dropped', async (t) => {
  const s = session(3)
  for (let i = 1; i <= 5; i++) t.equal(s.deliver(delivery(`m${i}`)), true, `m${i} accepted`)
  t.equal(s.queueLength, 3)
  t.equal(s.dropped, 2)
  const link = new Recorder(10)
  s.link = link
  s.pump()
  t.same(link.topics(), ['m3', 'm4', 'm5'], 'the oldest were dropped, the rest go in order')
  t.same(link.sent.map((x) => x.id), [1, 2, 3])
  t.equal(s.inflight.size, 3)
  t.equal(s.queueLength, 0)
  t.equal(link.attended, 1, 'the sweep is asked once, when the first message goes in flight')
  for (const d of [...s.inflight.values()]) s.complete(d)
  s.deliver(delivery('m6'))
  s.pump()
  t.equal(link.attended, 2, 'and again when messages are in flight after none were')
})

t.test('a long offline stream through a full queue keeps only the newest', async (t) => {
  const s = session(10)
  for (let i = 0; i < 50_000; i++) s.deliver(delivery(`m${i}`, 0))
  t.equal(s.queueLength, 10)
  t.equal(s.dropped, 49_990)
  const link = new Recorder(10)
  s.link = link
  s.pump()
  t.same(link.topics(), Array.from({ length: 10 }, (_, i) => `m${49_990 + i}`))
})

t.test('max_mqueue_len 0 and mqueue_store_qos0 false drop at once', async (t) => {
  const none = session(0)
  t.equal(none.deliver(delivery('a')), false)
  t.equal(none.queueLength, 0)
  t.equal(none.dropped, 1)

  const noQos0 = session(10, false)
  t.equal(noQos0.deliver(delivery('q0', 0)), false, 'QoS 0 is not kept for an offline client')
  t.equal(noQos0.deliver(delivery('q1', 1)), true, 'QoS 1 is')
  t.equal(noQos0.queueLength, 1)
  t.equal(noQos0.dropped, 1)

  const withQos0 = session(10, true)
  t.equal(withQos0.deliver(delivery('q0', 0)), true)
  const link = new Recorder(1)
  withQos0.link = link
  withQos0.pump()
  t.same(link.sent, [{ topic: 'q0', id: 0, qos: 0, dup: false }], 'a queued QoS 0 message goes without a packet id')
  t.equal(withQos0.inflight.size, 0, 'and takes no room in the window')
})

t.test('pump respects the send window', async (t) => {
  const s = session()
  const link = new Recorder(2)
  s.link = link
  for (let i = 1; i <= 5; i++) s.deliver(delivery(`m${i}`))
  t.same(link.topics(), ['m1', 'm2'], 'two sent at once')
  t.equal(s.queueLength, 3)
  s.pump()
  t.equal(link.sent.length, 2, 'pump sends nothing while the window is full')

  s.deliver(delivery('q0', 0))
  t.same(link.topics().at(-1), 'q0', 'QoS 0 is not held back by the window')

  s.inflight.delete(1)
  s.deliver(delivery('m6'))
  t.equal(link.sent.length, 3, 'with room in the window, a new message still waits behind the queue')
  s.pump()
  t.same(link.topics(), ['m1', 'm2', 'q0', 'm3'], 'the oldest queued message took the free slot')
  t.equal(s.inflight.size, 2)

  for (const id of [...s.inflight.keys()]) s.inflight.delete(id)
  s.pump()
  t.same(link.topics().slice(4), ['m4', 'm5'])
  for (const id of [...s.inflight.keys()]) s.inflight.delete(id)
  s.pump()
  t.same(link.topics().slice(6), ['m6'])
  t.equal(s.queueLength, 0)
})

t.test('pump drops expired messages and counts them', async (t) => {
  const s = session()
  s.deliver(delivery('old', 1, { expired: true }))
  s.deliver(delivery('new'))
  const link = new Recorder(10)
  s.link = link
  s.pump()
  t.same(link.topics(), ['new'])
  t.equal(s.dropped, 1)
})

t.test('packet ids skip the ids in flight and wrap at 65535', async (t) => {
  const s = session(10)
  const link = new Recorder(65_535)
  s.link = link
  for (let i = 0; i < 65_535; i++) s.deliver(delivery('x'))
  t.equal(link.sent[0]!.id, 1, 'ids start at 1')
  t.equal(link.sent.at(-1)!.id, 65_535)
  t.equal(link.sent.every((x, i) => x.id === i + 1), true, 'in sequence')
  t.equal(s.inflight.size, 65_535)

  s.deliver(delivery('waiting'))
  t.equal(s.queueLength, 1, 'every id in use: the next one waits')
  s.inflight.delete(5)
  s.inflight.delete(2)
  s.pump()
  t.same(link.sent.at(-1), { topic: 'waiting', id: 2, qos: 1, dup: false }, 'after 65535 comes 1, which is in flight, so 2')
  s.deliver(delivery('next'))
  t.same(link.sent.at(-1), { topic: 'next', id: 5, qos: 1, dup: false }, '3 and 4 are in flight, so 5')
  t.equal(link.sent.some((x) => x.id === 0), false, 'never 0')
})

t.test('resend repeats what is in flight, in order, with DUP, and PUBREL for released ones', async (t) => {
  const s = session()
  const first = new Recorder(10)
  s.link = first
  s.deliver(delivery('a', 2))
  s.deliver(delivery('b', 2))
  s.deliver(delivery('c', 1))
  s.inflight.get(2)!.state = 'pubrel'
  const second = new Recorder(10)
  s.link = second
  s.resend()
  t.same(second.sent, [{ topic: 'a', id: 1, qos: 2, dup: true }, { topic: 'c', id: 3, qos: 1, dup: true }])
  t.same(second.pubrels, [2])
})

t.test('takeShared hands back what came through shared groups and keeps the rest', async (t) => {
  const s = session()
  const link = new Recorder(2)
  s.link = link
  s.deliver(delivery('s/1', 1, { group: true }))
  s.deliver(delivery('s/released', 2, { group: true }))
  s.inflight.get(2)!.state = 'pubrel'
  s.deliver(delivery('p/1'))
  s.deliver(delivery('s/2', 1, { group: true }))
  s.deliver(delivery('p/2'))
  s.deliver(delivery('s/3', 1, { group: true }))
  t.equal(s.queueLength, 4)

  const taken = s.takeShared()
  t.same(taken.map((d) => d.message.topic), ['s/1', 's/2', 's/3'], 'unacknowledged, then queued, in order')
  t.same([...s.inflight.keys()], [2], 'a message past PUBREC stays: its PUBREL must finish here')
  t.equal(s.queueLength, 2)
  t.same(s.takeShared(), [], 'nothing twice')

  s.inflight.clear()
  s.pump()
  t.same(link.topics().slice(2), ['p/1', 'p/2'], 'the plain messages are still queued in order')
})

t.test('clearQueue empties the queue', async (t) => {
  const s = session()
  s.deliver(delivery('a'))
  s.deliver(delivery('b'))
  s.clearQueue()
  t.equal(s.queueLength, 0)
  const link = new Recorder(10)
  s.link = link
  s.pump()
  t.same(link.sent, [])
})
