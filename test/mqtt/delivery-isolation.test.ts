// One subscriber's failure costs only that subscriber the message. An encoding error (a `published`
// hook that sets Payload Format Indicator to the wire's 1 where mqtt-packet wants true, which only MQTT 5
// carries) drops the message for that client and keeps it served; an error thrown while a slow consumer
// is disconnected mid-delivery (a throwing clientDisconnected hook) is logged, and the remaining
// subscribers and the publisher carry on.
import type { IClientOptions, MqttClient } from 'mqtt'
import t, { type Test } from 'tap'
import type { PublishProperties } from '../../src/mqtt/message.js'
import { collect, connectClient, delay, end, floodUntilSlowConsumerCut, rawConnect, startBroker, within } from '../helpers.js'

async function client (t: Test, port: number, opts: IClientOptions): Promise<MqttClient> {
  const c = await connectClient(port, opts)
  t.teardown(() => end(c, true))
  return c
}

t.test('a message MQTT 5 cannot encode: the MQTT 5 subscriber loses it alone and is served on', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  // A plugin's mistake: the byte the spec puts on the wire where mqtt-packet wants a boolean. It throws
  // encoding that for MQTT 5; MQTT 3.1.1 has no properties.
  b.broker.addHook('published', (message) => {
    if (message.payload.toString() === 'poison') message.properties = { ...message.properties, payloadFormatIndicator: 1 } as unknown as PublishProperties
  })
  // Subscribed first, so that it comes first when the message is routed. Receive Maximum 1: a delivery
  // left in flight would hold back the next one; an alias assigned to the unsent packet would break it.
  const v5 = await client(t, b.tcpPort, { clientId: 'v5-sub', protocolVersion: 5, properties: { receiveMaximum: 1, topicAliasMaximum: 10 } })
  const got5 = collect(v5)
  await v5.subscribeAsync('iso/#', { qos: 1 })
  const others = await Promise.all(['v4-a', 'v4-b'].map(async (clientId) => {
    const c = await client(t, b.tcpPort, { clientId, protocolVersion: 4 })
    await c.subscribeAsync('iso/#', { qos: 1 })
    return { c, got: collect(c) }
  }))
  const pub = await client(t, b.tcpPort, { clientId: 'pub', protocolVersion: 5 })
  let errors = 0
  for (const c of [v5, pub, ...others.map((o) => o.c)]) c.on('error', () => { errors++ })

  await pub.publishAsync('iso/t', 'poison', { qos: 1 })
  for (const { got } of others) await got.waitFor(1)
  t.same(others.map(({ got }) => got.messages.map((m) => m.payload.toString())), [['poison'], ['poison']], 'the MQTT 3.1.1 subscribers got it')

  await pub.publishAsync('iso/t', 'fine', { qos: 1 })
  await got5.waitFor(1)
  t.same(got5.messages.map((m) => `${m.topic}=${m.payload.toString()}`), ['iso/t=fine'], 'the MQTT 5 subscriber missed only the message it could not be sent')
  for (const { got } of others) await got.waitFor(2)

  t.ok(v5.connected && pub.connected && others.every(({ c }) => c.connected), 'every client is still connected')
  t.equal(errors, 0, 'no client saw an error')
  t.equal(b.broker.core.clients.size, 4)
  const lines = b.logs.filter((l) => l.msg === 'message dropped for this client: it cannot be encoded')
  t.equal(lines.length, 1, 'one line')
  t.match(lines[0], { client: /^v5-sub@/, topic: 'iso/t', err: { message: 'Invalid payloadFormatIndicator: 1' } }, 'naming the client, the topic and the error')
  t.equal(b.broker.core.metrics.deliveryErrors, 1)
  t.equal(b.broker.core.metrics.messagesDropped, 1, 'counted as dropped')
  t.equal(b.broker.core.metrics.protocolErrors, 0, 'nobody was disconnected for it')
})

t.test('a hook that throws while one subscriber is disconnected mid-delivery: the others and the publisher carry on', async (t) => {
  const b = await startBroker({ mqtt: { max_write_buffer: '256KB' }, force_shutdown: { write_buffer_timeout: '300ms' } })
  t.teardown(() => b.close())
  b.broker.addHook('clientDisconnected', (c) => {
    if (c.clientId === 'slow') throw new Error('observer failed')
  })
  // Subscribed first and never reading: force_shutdown disconnects it while a message is routed to it.
  const { raw: slow } = await rawConnect(b.tcpPort, 5, { clientId: 'slow' })
  t.teardown(() => slow.socket.destroy())
  slow.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood/#', qos: 0 }] })
  await slow.take('suback')
  slow.socket.pause()

  const normal = await client(t, b.tcpPort, { clientId: 'normal' })
  const got = collect(normal)
  await normal.subscribeAsync('flood/#', { qos: 0 })
  const pub = await client(t, b.tcpPort, { clientId: 'flooder' })

  const limits = b.broker.core.metrics.limits
  const sent = await floodUntilSlowConsumerCut(pub, got, limits)
  t.equal(limits.slowConsumerDisconnected, 1, 'the slow consumer was disconnected')
  await pub.publishAsync('flood/x', 'after', { qos: 1 })
  await got.waitFor(sent + 1)
  t.equal(got.messages.length, sent + 1, 'the other subscriber got every message, the one routed during the failure too')
  t.ok(normal.connected && pub.connected, 'the publisher and the other subscriber stay connected')
  t.equal(b.broker.core.metrics.protocolErrors, 0, 'the publisher was not blamed')

  const line = b.logs.find((l) => l.hook === 'clientDisconnected')
  t.match(line, { err: { message: 'observer failed' } }, 'the hook\'s error is logged as the hook\'s')
  t.equal(b.broker.core.metrics.deliveryErrors, 0, 'and does not count as a delivery error: the delivery itself went through')
  t.notOk(b.broker.core.clients.has('slow'), 'only the slow client is gone')

  // Its socket was closed all the same: reading at last, it finds DISCONNECT 0x97, then the end.
  slow.socket.resume()
  t.equal((await slow.take('disconnect', 3000)).reasonCode, 0x97)
  t.ok(await within(3000, slow.closed), 'the broker closed its connection')
  await delay(10)
})
