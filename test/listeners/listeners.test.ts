import { createServer } from 'node:net'
import { connect as tlsConnect } from 'node:tls'
import t from 'tap'
import WebSocket from 'ws'
import { createBroker } from '../../src/index.js'
import { connectClient, end, memoryLog, rawSocket, startBroker, until } from '../helpers.js'

t.test('max_connections closes connections beyond the limit at accept, and logs it', async (t) => {
  const b = await startBroker({ listeners: { tcp: { default: { bind: '127.0.0.1:0', max_connections: 2 } } } })
  t.teardown(() => b.close())
  const one = await connectClient(b.tcpPort)
  const two = await connectClient(b.tcpPort)
  const third = await rawSocket(b.tcpPort)
  await third.closed
  t.pass('third connection closed')
  t.ok(b.logs.some((l) => String(l.msg).includes('max_connections')), 'refusal logged')
  t.equal(b.broker.listener('tcp')!.connectionCount, 2)
  await end(one)
  await until(() => b.broker.listener('tcp')!.connectionCount === 1, 'the slot freed')
  const again = await connectClient(b.tcpPort)
  t.ok(again.connected, 'a slot freed by a disconnect is usable')
  await end(two)
  await end(again)
})

t.test('enable = false leaves a listener down', async (t) => {
  const b = await startBroker({ listeners: { tcp: { default: { bind: '127.0.0.1:0' } }, ws: { default: { enable: false, bind: '127.0.0.1:0' } } } })
  t.teardown(() => b.close())
  t.equal(b.broker.listener('ws')!.running, false)
  t.throws(() => b.broker.port('ws'), /not running/)
})

t.test('a port in use stops start-up naming the listener and address', async (t) => {
  const blocker = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => blocker.close())
  const port = (blocker.address() as { port: number }).port
  await t.rejects(createBroker({ logger: memoryLog().log, config: { listeners: { tcp: { default: { bind: `127.0.0.1:${port}` } } } } }),
    { code: 'CULEX_ERR_LISTEN', message: new RegExp(`tcp:default cannot bind 127.0.0.1:${port}: EADDRINUSE`) })
})

t.test('WebSocket subprotocols: mqtt and mqttv3.1 accepted, others refused', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const url = `ws://127.0.0.1:${b.wsPort}/mqtt`
  for (const protocol of ['mqtt', 'mqttv3.1', 'mqttv3.1.1']) {
    const ws = new WebSocket(url, protocol)
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
    t.equal(ws.protocol, protocol, `${protocol} negotiated`)
    ws.terminate()
  }
  const bad = new WebSocket(url, 'stomp')
  const status = await new Promise<number>((resolve) => bad.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)))
  t.equal(status, 400, 'unknown subprotocol refused')
  const wrongPath = new WebSocket(`ws://127.0.0.1:${b.wsPort}/other`, 'mqtt')
  const failed = await new Promise<boolean>((resolve) => { wrongPath.once('error', () => resolve(true)); wrongPath.once('open', () => resolve(false)) })
  t.ok(failed, 'wrong path refused')
  const v3 = await connectClient(b.wsPort, { protocol: 'ws', path: '/mqtt', protocolVersion: 3, protocolId: 'MQIsdp' })
  t.ok(v3.connected, 'MQTT.js MQTT 3.1 over ws (subprotocol mqttv3.1) connects')
  await end(v3)
})

t.test('an oversize MQTT packet in one WebSocket frame closes that connection with a log line', async (t) => {
  const b = await startBroker({ mqtt: { max_packet_size: '1KB' } })
  t.teardown(() => b.close())
  const ws = new WebSocket(`ws://127.0.0.1:${b.wsPort}/mqtt`, 'mqtt')
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject) })
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
  ws.send(Buffer.alloc(4096, 0x30))
  t.equal(await closed, 1009, 'closed with 1009 message too big')
  await until(() => b.logs.some((l) => String(l.msg).includes('larger than mqtt.max_packet_size')), 'the log line')
  t.ok(b.logs.some((l) => String(l.msg).includes('larger than mqtt.max_packet_size')), 'logged with the reason')
})

t.test('a TLS client on the plain tcp port is told to use the ssl port, not "malformed packet"', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const socket = tlsConnect({ host: '127.0.0.1', port: b.tcpPort, rejectUnauthorized: false })
  socket.on('error', () => {})
  await new Promise((resolve) => socket.once('close', resolve))
  const line = b.logs.find((l) => String(l.msg).startsWith('closing connection:'))
  t.match(line, { code: 'CULEX_ERR_MQTT_MALFORMED', msg: /a TLS ClientHello on a plain MQTT port: use the ssl port \(8883\)/ })
  t.notOk(b.logs.some((l) => /Invalid header flag bits/.test(String(l.msg))), 'no parser message')
})
