// mqtt.message_expiry_interval (EMQX): messages published without a Message Expiry Interval, as every
// MQTT 3 message is, expire after it; with the default (infinity) they wait for their subscriber.
import t, { type Test } from 'tap'
import { connectClient, connectCollecting, delay, end, startBroker } from '../helpers.js'

async function queuedThenResumed (t: Test, interval: number | 'infinity') {
  const b = await startBroker({ mqtt: { message_expiry_interval: interval } })
  t.teardown(() => b.close())
  const first = await connectCollecting(b.tcpPort, { clientId: 'late', clean: false })
  await first.client.subscribeAsync('exp/#', { qos: 1 })
  await end(first.client)
  const pub = await connectClient(b.tcpPort, { clientId: 'pub' })
  t.teardown(() => end(pub, true))
  await pub.publishAsync('exp/old', 'queued', { qos: 1 })
  // Past the 1 s interval: the message is due to expire before the subscriber comes back.
  await delay(1300)
  await pub.publishAsync('exp/fresh', 'queued just now', { qos: 1 })
  const again = await connectCollecting(b.tcpPort, { clientId: 'late', clean: false })
  t.teardown(() => end(again.client, true))
  await pub.publishAsync('exp/probe', 'live', { qos: 1 })
  const got = await again.got.waitFor(1)
  while (!got.some((m) => m.topic === 'exp/probe')) await again.got.waitFor(got.length + 1)
  return got.map((m) => m.topic)
}

t.test('message_expiry_interval = 1: a queued MQTT 3 message older than 1 s is not delivered', async (t) => {
  t.same(await queuedThenResumed(t, 1), ['exp/fresh', 'exp/probe'])
})

t.test('message_expiry_interval = infinity (the default): it is delivered', async (t) => {
  t.same(await queuedThenResumed(t, 'infinity'), ['exp/old', 'exp/fresh', 'exp/probe'])
})
