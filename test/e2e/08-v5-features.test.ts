// MQTT 5 features end to end (topic aliases, message expiry, request/response properties, payload
// format, maximum packet sizes), MQTT over WebSocket, mosquitto clients, and $SYS topics.
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import mqtt, { type IConnackPacket, type MqttClient } from 'mqtt'
import { WebSocket } from 'ws'
import { collect, connectClient, delay, end, rawConnect, startBroker, until, within } from '../helpers.js'

/** Waits for a client made with mqtt.connect() to get its CONNACK. */
function connected (client: MqttClient): Promise<IConnackPacket> {
  return new Promise((resolve, reject) => {
    client.once('connect', resolve)
    client.once('error', reject)
    client.once('close', () => reject(new Error('closed before CONNACK')))
  })
}

t.test('topic aliases from the client', async (t) => {
  const b = await startBroker({ mqtt: { max_topic_alias: 5 } })
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const inbox = collect(sub)
  await sub.subscribeAsync('ta/#', { qos: 1 })

  t.test('an alias set with a topic resolves later topic-less PUBLISHes', async (t) => {
    const { raw, connack } = await rawConnect(b.tcpPort, 5)
    t.teardown(() => raw.socket.destroy())
    t.equal(connack.properties?.topicAliasMaximum, 5, 'CONNACK announces mqtt.max_topic_alias')
    raw.send({ cmd: 'publish', topic: 'ta/one', payload: Buffer.from('a'), qos: 1, messageId: 1, dup: false, retain: false, properties: { topicAlias: 1 } })
    raw.send({ cmd: 'publish', topic: '', payload: Buffer.from('b'), qos: 1, messageId: 2, dup: false, retain: false, properties: { topicAlias: 1 } })
    raw.send({ cmd: 'publish', topic: 'ta/two', payload: Buffer.from('c'), qos: 1, messageId: 3, dup: false, retain: false, properties: { topicAlias: 1 } })
    raw.send({ cmd: 'publish', topic: '', payload: Buffer.from('d'), qos: 1, messageId: 4, dup: false, retain: false, properties: { topicAlias: 1 } })
    const msgs = await inbox.waitFor(4)
    t.same(msgs.map((m) => `${m.topic} ${m.payload.toString()}`), ['ta/one a', 'ta/one b', 'ta/two c', 'ta/two d'], 'aliases resolve, and can be remapped')
    t.ok(msgs.every((m) => m.packet.properties?.topicAlias === undefined), 'the alias is not forwarded')
    for (let i = 1; i <= 4; i++) {
      const puback = await raw.take('puback')
      t.same([puback.messageId, puback.reasonCode ?? 0], [i, 0], `PUBACK ${i} success`)
    }
  })

  for (const [alias, what] of [[0, 'alias 0'], [6, 'an alias above the maximum']] as const) {
    t.test(`${what} gets DISCONNECT 0x94`, async (t) => {
      const { raw } = await rawConnect(b.tcpPort, 5)
      t.teardown(() => raw.socket.destroy())
      const before = inbox.messages.length
      raw.send({ cmd: 'publish', topic: 'ta/bad', payload: Buffer.from('x'), qos: 1, messageId: 1, dup: false, retain: false, properties: { topicAlias: alias } })
      t.equal((await raw.take('disconnect')).reasonCode, 0x94)
      t.ok(await within(2000, raw.closed), 'connection closed')
      // The DISCONNECT came after the broker handled the PUBLISH: a delivery was routed before this probe.
      await inbox.probe(b.broker, 'ta/probe')
      t.equal(inbox.messages.length, before, 'not delivered')
    })
  }
  t.teardown(() => end(sub))
})

t.test('topic aliases to the client', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const { raw } = await rawConnect(b.tcpPort, 5, { properties: { topicAliasMaximum: 1 } })
  t.teardown(() => raw.socket.destroy())
  const { raw: plain } = await rawConnect(b.tcpPort, 5)
  t.teardown(() => plain.socket.destroy())
  for (const r of [raw, plain]) {
    r.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'alias/+', qos: 0 }] })
    await r.take('suback')
  }
  for (const [topic, payload] of [['alias/a', '1'], ['alias/a', '2'], ['alias/b', '3'], ['alias/a', '4']]) b.broker.publish(topic!, payload!)
  const got = []
  for (let i = 0; i < 4; i++) got.push(await raw.take('publish'))
  t.same(got.map((p) => [p.topic, p.properties?.topicAlias, p.payload.toString()]), [
    ['alias/a', 1, '1'], // first message: topic and the new alias
    ['', 1, '2'], // then the alias alone
    ['alias/b', undefined, '3'], // beyond the client's Topic Alias Maximum: the full topic, no alias
    ['', 1, '4'],
  ])
  const plainGot = []
  for (let i = 0; i < 4; i++) plainGot.push(await plain.take('publish'))
  t.ok(plainGot.every((p) => p.topic.startsWith('alias/') && p.properties?.topicAlias === undefined),
    'a client without Topic Alias Maximum gets full topics')
})

t.test('Message Expiry Interval for an offline session', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const opts = { host: '127.0.0.1', port: b.tcpPort, protocolVersion: 5 as const, reconnectPeriod: 0, clientId: 'offline', clean: false, properties: { sessionExpiryInterval: 60 } }
  const first = await connectClient(b.tcpPort, opts)
  await first.subscribeAsync('exp/#', { qos: 1 })
  await end(first)
  const pub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  await pub.publishAsync('exp/short', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } })
  await pub.publishAsync('exp/long', 'long', { qos: 1, properties: { messageExpiryInterval: 10 } })
  await pub.publishAsync('exp/none', 'none', { qos: 1 })
  await pub.publishAsync('exp/short0', 'short qos0', { qos: 0, properties: { messageExpiryInterval: 1 } })
  await end(pub)
  // A timer under test: expiry compares the clock, and at least 1.5 s have passed however late this wakes.
  await delay(1500)
  const again = mqtt.connect(opts)
  const inbox = collect(again)
  t.teardown(() => end(again))
  const connack = await connected(again)
  t.equal(connack.sessionPresent, true)
  await inbox.waitFor(2)
  await inbox.probe(b.broker, 'exp/probe') // behind the queue the session resumed with
  t.same(inbox.messages.map((m) => m.topic), ['exp/long', 'exp/none'], 'expired messages are not delivered')
  const remaining = inbox.messages[0]!.packet.properties?.messageExpiryInterval ?? 0
  t.ok(remaining >= 7 && remaining <= 9, `remaining interval decremented by the time queued (${remaining})`)
  t.equal(inbox.messages[1]!.packet.properties?.messageExpiryInterval, undefined, 'no interval added to a message without one')
})

t.test('request/response properties pass through unchanged', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const responder = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const v4 = await connectClient(b.tcpPort, { protocolVersion: 4 })
  const [inbox, v4Inbox] = [collect(responder), collect(v4)]
  await responder.subscribeAsync('rpc/req', { qos: 1 })
  await v4.subscribeAsync('rpc/req', { qos: 1 })
  const requester = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const replies = collect(requester)
  await requester.subscribeAsync('rpc/reply/me', { qos: 1 })
  const properties = {
    responseTopic: 'rpc/reply/me',
    correlationData: Buffer.from([0, 1, 2, 0xff]),
    contentType: 'application/json',
    payloadFormatIndicator: true,
    userProperties: { trace: 'abc', multi: ['x', 'y'] },
  }
  await requester.publishAsync('rpc/req', '{"q":1}', { qos: 1, properties })
  const [req] = await inbox.waitFor(1)
  const p = req!.packet.properties!
  t.equal(p.responseTopic, 'rpc/reply/me')
  t.same(p.correlationData, properties.correlationData)
  t.equal(p.contentType, 'application/json')
  t.equal(p.payloadFormatIndicator, true)
  t.same(p.userProperties, { trace: 'abc', multi: ['x', 'y'] }, 'user properties keep their order and repeats')
  await responder.publishAsync(p.responseTopic!, 'answer', { qos: 1, properties: { correlationData: p.correlationData! } })
  const [reply] = await replies.waitFor(1)
  t.same(reply!.packet.properties?.correlationData, properties.correlationData, 'the reply carries the correlation data')
  const [old] = await v4Inbox.waitFor(1)
  t.equal(old!.payload.toString(), '{"q":1}', 'an MQTT 3.1.1 subscriber gets the message without properties')
  for (const c of [responder, v4, requester]) await end(c)
})

t.test('Payload Format Indicator 1 with invalid UTF-8 is refused with 0x99', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const inbox = collect(sub)
  await sub.subscribeAsync('pfi/#', { qos: 1 })
  const { raw } = await rawConnect(b.tcpPort, 5)
  t.teardown(() => raw.socket.destroy())
  const bad = Buffer.from([0x68, 0xc3, 0x28, 0xff])
  raw.send({ cmd: 'publish', topic: 'pfi/bad', payload: bad, qos: 1, messageId: 1, dup: false, retain: false, properties: { payloadFormatIndicator: true } })
  t.equal((await raw.take('puback')).reasonCode, 0x99, 'PUBACK 0x99')
  raw.send({ cmd: 'publish', topic: 'pfi/binary', payload: bad, qos: 1, messageId: 2, dup: false, retain: false, properties: { payloadFormatIndicator: false } })
  raw.send({ cmd: 'publish', topic: 'pfi/text', payload: Buffer.from('héllo'), qos: 1, messageId: 3, dup: false, retain: false, properties: { payloadFormatIndicator: true } })
  t.equal((await raw.take('puback')).reasonCode ?? 0, 0, 'the same bytes declared binary are accepted')
  t.equal((await raw.take('puback')).reasonCode ?? 0, 0, 'valid UTF-8 is accepted')
  await inbox.waitFor(2)
  await inbox.probe(b.broker, 'pfi/probe') // every PUBLISH was acknowledged, so routed, before it
  t.same(inbox.messages.map((m) => m.topic), ['pfi/binary', 'pfi/text'], 'the refused message is not delivered')
  t.notOk(raw.isClosed(), 'the connection stays open')
  await end(sub)
})

t.test('mqtt.max_packet_size = 1KB', async (t) => {
  const b = await startBroker({ mqtt: { max_packet_size: '1KB' } })
  t.teardown(() => b.close())
  const sub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const inbox = collect(sub)
  await sub.subscribeAsync('big/#', { qos: 1 })
  const { raw, connack } = await rawConnect(b.tcpPort, 5, { clientId: 'too-big' })
  t.teardown(() => raw.socket.destroy())
  t.equal(connack.properties?.maximumPacketSize, 1024, 'CONNACK announces Maximum Packet Size')
  raw.send({ cmd: 'publish', topic: 'big/x', payload: Buffer.alloc(2048, 0x61), qos: 1, messageId: 1, dup: false, retain: false })
  t.equal((await raw.take('disconnect')).reasonCode, 0x95, 'DISCONNECT 0x95')
  t.ok(await within(2000, raw.closed), 'connection closed')
  t.ok(b.logs.some((l) => l.code === 'CULEX_ERR_MQTT_PACKET_TOO_LARGE' && String(l.client).startsWith('too-big')), 'the broker logs why')
  await sub.publishAsync('big/small', Buffer.alloc(500, 0x62), { qos: 1 })
  const [msg] = await inbox.waitFor(1)
  t.equal(msg!.topic, 'big/small', 'other clients keep working')
  t.equal(inbox.messages.length, 1, 'the oversize message was not delivered')
  await end(sub)
})

t.test('a client\'s Maximum Packet Size is respected', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const { raw: small } = await rawConnect(b.tcpPort, 5, { properties: { maximumPacketSize: 200 } })
  t.teardown(() => small.socket.destroy())
  small.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'mps/+', qos: 1 }] })
  await small.take('suback')
  const other = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const inbox = collect(other)
  await other.subscribeAsync('mps/+', { qos: 1 })
  await other.publishAsync('mps/big', Buffer.alloc(500), { qos: 1 })
  await other.publishAsync('mps/small', Buffer.alloc(50), { qos: 1 })
  await inbox.waitFor(2)
  const publish = await small.take('publish')
  t.equal(publish.topic, 'mps/small', 'the small message arrives')
  t.ok(publish.length! + 2 <= 200)
  await small.ping() // both were routed before it
  t.equal(small.packets.filter((p) => p.cmd === 'publish').length, 1, 'the large one is not sent to it')
  t.same(inbox.messages.map((m) => m.topic), ['mps/big', 'mps/small'], 'but is to others')
  small.send({ cmd: 'puback', messageId: publish.messageId! })
  await end(other)
})

t.test('a message dropped for the client\'s Maximum Packet Size does not use up a topic alias', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const { raw } = await rawConnect(b.tcpPort, 5, { properties: { maximumPacketSize: 200, topicAliasMaximum: 4 } })
  t.teardown(() => raw.socket.destroy())
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'mpa/+', qos: 0 }] })
  await raw.take('suback')
  b.broker.publish('mpa/t', Buffer.alloc(500))
  b.broker.publish('mpa/t', 'small')
  b.broker.publish('mpa/t', 'again')
  const first = await raw.take('publish')
  t.same([first.topic, first.properties?.topicAlias, first.payload.toString()], ['mpa/t', 1, 'small'],
    'the first message sent on the topic names it')
  const second = await raw.take('publish')
  t.same([second.topic, second.properties?.topicAlias, second.payload.toString()], ['', 1, 'again'])
})

t.test('MQTT over WebSocket', async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const url = `ws://127.0.0.1:${b.wsPort}/mqtt`

  for (const version of [4, 5] as const) {
    t.test(`v${version} over WebSocket exchanges messages with a TCP client`, async (t) => {
      const ws = mqtt.connect(url, { protocolVersion: version, reconnectPeriod: 0, connectTimeout: 3000 })
      t.teardown(() => end(ws, true))
      await connected(ws)
      const wsInbox = collect(ws)
      await ws.subscribeAsync(`ws${version}/down`, { qos: 1 })
      const tcp = await connectClient(b.tcpPort, { protocolVersion: 5 })
      t.teardown(() => end(tcp))
      const tcpInbox = collect(tcp)
      await tcp.subscribeAsync(`ws${version}/up`, { qos: 1 })
      await ws.publishAsync(`ws${version}/up`, 'from ws', { qos: 1 })
      await tcp.publishAsync(`ws${version}/down`, 'from tcp', { qos: 2 })
      const [up] = await tcpInbox.waitFor(1)
      const [down] = await wsInbox.waitFor(1)
      t.equal(up!.payload.toString(), 'from ws')
      t.equal(down!.payload.toString(), 'from tcp')
      t.equal(down!.packet.qos, 1)
    })
  }

  /** Resolves 'open' or the HTTP status of a refused upgrade. */
  const upgrade = (target: string, protocols?: string[]) => new Promise<number | 'open'>((resolve, reject) => {
    const sock = new WebSocket(target, protocols)
    sock.on('open', () => { sock.terminate(); resolve('open') })
    sock.on('unexpected-response', (_req, res) => { res.resume(); resolve(res.statusCode ?? 0); sock.terminate() })
    sock.on('error', (err) => reject(err))
  })

  t.test('upgrades without a subprotocol, with an unknown one or on another path are refused', async (t) => {
    t.equal(await upgrade(url, ['mqtt']), 'open', 'the mqtt subprotocol on /mqtt is accepted')
    t.equal(await upgrade(url), 400, 'no subprotocol')
    t.equal(await upgrade(url, ['chat']), 400, 'unknown subprotocol')
    t.equal(await upgrade(`ws://127.0.0.1:${b.wsPort}/other`, ['mqtt']), 404, 'wrong path')
    t.equal(await upgrade(`ws://127.0.0.1:${b.wsPort}/`, ['mqtt']), 'open', '"/" is served too (the MQTT.js command line sends no path)')
    const res = await fetch(`http://127.0.0.1:${b.wsPort}/mqtt`)
    t.equal(res.status, 426, 'a plain HTTP request is told to upgrade')
  })
})

const hasMosquitto = (() => {
  try { execFileSync('which', ['mosquitto_sub', 'mosquitto_pub']); return true } catch { return false }
})()

/** Runs a mosquitto tool, bounded by a timeout; resolves with its exit code and output. */
function run (cmd: string, args: string[]) {
  const child = spawn(cmd, args, { timeout: 5000 })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (c: Buffer) => { stdout += String(c) })
  child.stderr.on('data', (c: Buffer) => { stderr += String(c) })
  // 'close', not 'exit': output can still be in the pipe when the process has exited.
  const done = once(child, 'close').then(([code]) => ({ code: code as number | null, stdout: () => stdout, stderr: () => stderr }))
  return { child, done }
}

t.test('mosquitto_sub receives from mosquitto_pub', { skip: hasMosquitto ? false : 'mosquitto clients not installed' }, async (t) => {
  const b = await startBroker()
  t.teardown(() => b.close())
  const port = String(b.tcpPort)
  for (const version of ['mqttv311', 'mqttv5']) {
    const topic = `mosq/${version}`
    const payload = `hello ${version}`
    // mosquitto_sub block-buffers its output to a pipe, so the broker tells when it has subscribed.
    let subscribed!: () => void
    const ready = new Promise<void>((resolve) => { subscribed = resolve })
    b.broker.addHook('authorizeSubscribe', (_client, req) => {
      if (req.topic === topic) subscribed()
      return undefined
    })
    const sub = run('mosquitto_sub', ['-h', '127.0.0.1', '-p', port, '-V', version, '-t', topic, '-q', '1', '-C', '1', '-W', '5'])
    t.teardown(() => { sub.child.kill() })
    t.ok(await within(3000, ready), `${version}: mosquitto_sub subscribed`)
    const pub = run('mosquitto_pub', ['-h', '127.0.0.1', '-p', port, '-V', version, '-t', topic, '-q', '1', '-m', payload])
    const pubResult = await pub.done
    t.equal(pubResult.code, 0, `${version}: mosquitto_pub exits 0 ${pubResult.stderr()}`)
    const subResult = await sub.done
    t.equal(subResult.code, 0, `${version}: mosquitto_sub exits 0 after one message`)
    t.ok(subResult.stdout().split('\n').includes(payload), `${version}: the payload was printed`)
  }
})

t.test('$SYS topics', async (t) => {
  const b = await startBroker({ sys_topics: { sys_msg_interval: '200ms', sys_heartbeat_interval: '200ms' } })
  t.teardown(() => b.close())
  const node = b.broker.config.node.name
  const sub = await connectClient(b.tcpPort, { protocolVersion: 5 })
  const inbox = collect(sub)
  await sub.subscribeAsync(`$SYS/brokers/+/version`, { qos: 0 })
  const [version] = await inbox.waitFor(1)
  t.equal(version!.topic, `$SYS/brokers/${node}/version`)
  t.equal(version!.payload.toString(), b.broker.version)
  t.equal(version!.packet.retain, true, 'retained, so a new subscriber sees it')
  await sub.subscribeAsync(`$SYS/brokers/${node}/stats/connections.count`, { qos: 0 })
  const counts = () => inbox.messages.filter((m) => m.topic.endsWith('/connections.count')).map((m) => m.payload.toString())
  await until(() => counts().includes('1'), 'connections.count 1', 2000)
  t.ok(counts().includes('1'), 'one client connected')
  const second = await connectClient(b.tcpPort)
  await until(() => counts().includes('2'), 'connections.count 2', 3000)
  t.ok(counts().includes('2'), 'the count follows a new connection on the next interval')
  await end(second)
  await end(sub)
})
