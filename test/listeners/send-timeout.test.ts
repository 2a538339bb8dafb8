// tcp_options.send_timeout / send_timeout_close / high_watermark: a client that stops reading while data is
// sent to it holds unsent data above high_watermark; after send_timeout it is closed (or only logged).
import t from 'tap'
import WebSocket from 'ws'
import mqttPacket from 'mqtt-packet'
import type { MqttClient } from 'mqtt'
import { collect, connectClient, end, rawConnect, startBroker, within } from '../helpers.js'
import { waitForLog } from './tls-helpers.js'

const PAYLOAD = Buffer.alloc(64 * 1024, 7)
const tcpOptions = (close: boolean) => ({ send_timeout: '1s', send_timeout_close: close, high_watermark: '256KB' })

/** Publishes 64 KiB QoS 0 messages on `topic` until `stop()` says so (bounded at 15 s); returns how many. */
async function floodUntil (pub: MqttClient, topic: string, stop: () => boolean): Promise<number> {
  let sent = 0
  const deadline = Date.now() + 15_000
  while (!stop() && Date.now() < deadline) {
    for (let i = 0; i < 16; i++) pub.publish(topic, PAYLOAD, { qos: 0 })
    sent += 16
    // Let the publisher's socket drain so the broker keeps receiving.
    await new Promise<void>((resolve) => { if (pub.stream.writableLength === 0) setImmediate(resolve); else pub.stream.once('drain', () => resolve()) })
  }
  return sent
}

const timedOut = (level: number) => (l: Record<string, unknown>) => l.level === level && String(l.msg).includes('tcp_options.high_watermark for send_timeout')

t.test('tcp: a subscriber that stops reading is closed after send_timeout; one that reads is not', async (t) => {
  const b = await startBroker({ listeners: { tcp: { default: { bind: '127.0.0.1:0', tcp_options: tcpOptions(true) } } } })
  t.teardown(() => b.close())
  const { raw } = await rawConnect(b.tcpPort, 4, { clientId: 'stuck' })
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood', qos: 0 }] })
  await raw.take('suback')
  raw.socket.pause()
  const reader = await connectClient(b.tcpPort, { clientId: 'reader' })
  t.teardown(() => end(reader, true))
  const got = collect(reader)
  await new Promise<void>((resolve, reject) => reader.subscribe('flood', { qos: 0 }, (err) => (err ? reject(err) : resolve())))
  const pub = await connectClient(b.tcpPort, { clientId: 'pub' })
  t.teardown(() => end(pub, true))

  const sent = await floodUntil(pub, 'flood', () => b.logs.some(timedOut(30)))
  const line = await waitForLog(b.logs, timedOut(30))
  t.match(line.peer, /^127\.0\.0\.1:\d+$/)
  t.ok((line.unsent as number) >= 256 * 1024, `unsent ${String(line.unsent)} bytes at or above high_watermark`)
  t.equal(b.broker.core.metrics.limits.slowConsumerDisconnected, 1, 'counted')
  raw.socket.resume()
  t.ok(await within(5000, raw.closed), 'the stuck client\'s connection is closed once it reads again')
  await got.waitFor(sent, 10_000)
  t.ok(reader.connected, 'the reading subscriber got every message and is still connected')
})

t.test('send_timeout_close = false: logged once, the connection stays', async (t) => {
  const b = await startBroker({ listeners: { tcp: { default: { bind: '127.0.0.1:0', tcp_options: tcpOptions(false) } } } })
  t.teardown(() => b.close())
  const { raw } = await rawConnect(b.tcpPort, 4, { clientId: 'stuck' })
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood', qos: 0 }] })
  await raw.take('suback')
  raw.socket.pause()
  const pub = await connectClient(b.tcpPort, { clientId: 'pub' })
  t.teardown(() => end(pub, true))
  await floodUntil(pub, 'flood', () => b.logs.some(timedOut(40)))
  await waitForLog(b.logs, timedOut(40))
  t.equal(b.broker.core.metrics.limits.slowConsumerDisconnected, 0, 'nothing closed')
  t.equal(b.broker.listener('tcp')!.connectionCount, 2, 'both connections open')
  t.equal(b.logs.filter(timedOut(40)).length, 1, 'logged once')
  raw.socket.destroy()
})

t.test('ws: the WebSocket\'s socket is measured too', async (t) => {
  const b = await startBroker({ listeners: { tcp: { default: { bind: '127.0.0.1:0' } }, ws: { default: { bind: '127.0.0.1:0', tcp_options: tcpOptions(true) } } } })
  t.teardown(() => b.close())
  const ws = new WebSocket(`ws://127.0.0.1:${b.wsPort}/mqtt`, 'mqtt')
  const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()))
  ws.on('error', () => {})
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('unexpected-response', () => reject(new Error('upgrade refused'))) })
  const packets: string[] = []
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  parser.on('packet', (p) => packets.push(p.cmd))
  ws.on('message', (data: Buffer) => parser.parse(data))
  ws.send(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'ws-stuck' }))
  ws.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'flood', qos: 0 }] }))
  const deadline = Date.now() + 3000
  while (!packets.includes('suback') && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10))
  t.ok(packets.includes('suback'), 'subscribed')
  ;(ws as unknown as { _socket: import('node:net').Socket })._socket.pause()
  const pub = await connectClient(b.tcpPort, { clientId: 'pub' })
  t.teardown(() => end(pub, true))
  await floodUntil(pub, 'flood', () => b.logs.some(timedOut(30)))
  const line = await waitForLog(b.logs, timedOut(30))
  t.equal(line.listener, 'ws:default')
  ;(ws as unknown as { _socket: import('node:net').Socket })._socket.resume()
  t.ok(await within(5000, closed), 'closed')
})
