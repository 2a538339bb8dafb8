// mqtt.mqueue_priorities / mqueue_default_priority (EMQX 5.8): what a session queued while its client was away
// leaves the queue by priority (exact topics), in turns of (P + 1) × 10 per priority; max_mqueue_len bounds
// each priority's queue.
import t, { type Test } from 'tap'
import { connectClient, connectCollecting, end, startBroker, until, type TestBroker } from '../helpers.js'

/** A broker with this mqtt section; `away` subscribed to `#` at QoS 1 with a persistent session, then offline. */
async function offlineSubscriber (t: Test, mqtt: Record<string, unknown>): Promise<TestBroker> {
  const b = await startBroker({ mqtt })
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { clientId: 'away', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 600 } })
  await sub.subscribeAsync('q/#', { qos: 1 })
  await end(sub)
  await until(() => !b.broker.core.clients.has('away'), 'the subscriber offline')
  return b
}

/** Publishes [topic, payload] pairs at QoS 1, waits until the session has queued `queued`, reconnects and returns the payloads in arrival order. */
async function drain (t: Test, b: TestBroker, messages: [string, string][], queued = messages.length): Promise<string[]> {
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  t.teardown(() => end(pub, true))
  for (const [topic, payload] of messages) await pub.publishAsync(topic, payload, { qos: 1 })
  await until(() => b.broker.core.sessions.get('away')?.queueLength === queued, `${queued} queued`)
  const { client, got } = await connectCollecting(b.tcpPort, { clientId: 'away', clean: false, protocolVersion: 5, properties: { sessionExpiryInterval: 600 } })
  t.teardown(() => end(client, true))
  await got.waitFor(queued)
  return got.messages.map((m) => m.payload.toString())
}

t.test('higher priority leaves the queue first; unlisted topics are the lowest by default', async (t) => {
  const b = await offlineSubscriber(t, { mqueue_priorities: { 'q/alarm': 10, 'q/status': 5 } })
  const got = await drain(t, b, [
    ['q/other', 'o1'], ['q/status', 's1'], ['q/alarm', 'a1'], ['q/other', 'o2'],
    ['q/alarm', 'a2'], ['q/status', 's2'], ['q/other/deep', 'o3'],
  ])
  t.same(got, ['a1', 'a2', 's1', 's2', 'o1', 'o2', 'o3'], 'priority 10, then 5, then the rest, each in arrival order')
})

t.test('mqueue_default_priority = highest: unlisted topics before the listed ones', async (t) => {
  const b = await offlineSubscriber(t, { mqueue_priorities: { 'q/low': 1 }, mqueue_default_priority: 'highest' })
  const got = await drain(t, b, [['q/low', 'l1'], ['q/any', 'x1'], ['q/low', 'l2'], ['q/any', 'x2']])
  t.same(got, ['x1', 'x2', 'l1', 'l2'])
})

t.test('topics match exactly, not as filters or prefixes', async (t) => {
  const b = await offlineSubscriber(t, { mqueue_priorities: { 'q/a': 9, 'q/#': 8 } })
  const got = await drain(t, b, [['q/a/b', 'deeper'], ['q/b', 'other'], ['q/a', 'a1']])
  t.same(got, ['a1', 'deeper', 'other'], 'only q/a itself is raised; "q/#" is no filter here')
})

t.test('a priority gives out (P + 1) × 10 in a row, then a lower one gets its turn', async (t) => {
  const b = await offlineSubscriber(t, { mqueue_priorities: { 'q/hi': 1 } })
  const messages: [string, string][] = [
    ...Array.from({ length: 25 }, (_, i): [string, string] => ['q/hi', `h${i}`]),
    ...Array.from({ length: 5 }, (_, i): [string, string] => ['q/lo', `l${i}`]),
  ]
  const got = await drain(t, b, messages)
  const expected = [
    ...Array.from({ length: 20 }, (_, i) => `h${i}`),
    ...Array.from({ length: 5 }, (_, i) => `l${i}`),
    ...Array.from({ length: 5 }, (_, i) => `h${i + 20}`),
  ]
  t.same(got, expected, 'priority 1: twenty, then the lowest (0) its turn, then the rest')
})

t.test('max_mqueue_len bounds each priority\'s queue, dropping that priority\'s oldest', async (t) => {
  const b = await offlineSubscriber(t, { max_mqueue_len: 2, mqueue_priorities: { 'q/hi': 5 } })
  const got = await drain(t, b, [
    ['q/hi', 'h1'], ['q/lo', 'l1'], ['q/hi', 'h2'], ['q/lo', 'l2'], ['q/hi', 'h3'], ['q/lo', 'l3'],
  ], 4)
  t.same(got, ['h2', 'h3', 'l2', 'l3'], 'two of each priority kept, the newest')
  t.equal(b.broker.core.sessions.get('away')?.dropped, 2, 'the two oldest counted as dropped')
})

t.test('without priorities the queue keeps arrival order', async (t) => {
  const b = await offlineSubscriber(t, {})
  const got = await drain(t, b, [['q/alarm', 'a1'], ['q/other', 'o1'], ['q/alarm', 'a2']])
  t.same(got, ['a1', 'o1', 'a2'])
})

t.test('a priority outside 1 to 255 is refused at start, naming the key', async (t) => {
  await t.rejects(startBroker({ mqtt: { mqueue_priorities: { 'q/a': 0 } } }), { message: /mqtt\.mqueue_priorities\.q\/a/ })
  await t.rejects(startBroker({ mqtt: { mqueue_priorities: { 'q/a': 256 } } }), { message: /mqtt\.mqueue_priorities/ })
})
