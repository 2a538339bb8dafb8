// websocket.* (EMQX ws_opts): origin checks, max_frame_size, idle_timeout, compress and deflate_opts,
// mqtt_piggyback, validate_utf8, proxy_address_header / proxy_port_header.
import t from 'tap'
import WebSocket from 'ws'
import mqttPacket, { type Packet } from 'mqtt-packet'
import type { ClientInfo } from '../../src/mqtt/hooks.js'
import { startBroker, within } from '../helpers.js'
import { waitForLog } from './tls-helpers.js'

const CONNECT = mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: '' })
const PINGREQ = Buffer.from([0xc0, 0x00])

interface WsClient {
  ws: WebSocket
  /** Every WebSocket message received, as it came. */
  messages: Buffer[]
  packets: Packet[]
  /** Resolves with the close code. */
  closed: Promise<number>
  /** The upgrade response's Sec-WebSocket-Extensions header. */
  extensions: string
  /** Waits (bounded) until `count` packets have arrived. */
  packetsReach (count: number, timeoutMs?: number): Promise<void>
}

/** A WebSocket to the broker; resolves once open, or rejects with the HTTP status of a refused upgrade. */
function wsClient (port: number, options: WebSocket.ClientOptions = {}, protocol: string | undefined = 'mqtt'): Promise<WsClient> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, protocol, options)
  const messages: Buffer[] = []
  const packets: Packet[] = []
  const parser = mqttPacket.parser({ protocolVersion: 4 })
  parser.on('packet', (p: Packet) => packets.push(p))
  ws.on('message', (data: Buffer) => { messages.push(data); parser.parse(data) })
  ws.on('error', () => {})
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)))
  const client: WsClient = {
    ws,
    messages,
    packets,
    closed,
    extensions: '',
    async packetsReach (count, timeoutMs = 3000) {
      const deadline = Date.now() + timeoutMs
      while (packets.length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} packets, got ${packets.map((p) => p.cmd).join(', ')}`)
        await new Promise((resolve) => setTimeout(resolve, 10))
      }
    },
  }
  ws.once('upgrade', (res) => { client.extensions = String(res.headers['sec-websocket-extensions'] ?? '') })
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(client))
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`HTTP ${res.statusCode}`), { status: res.statusCode })))
    ws.once('error', reject)
  })
}

async function connected (port: number, options: WebSocket.ClientOptions = {}): Promise<WsClient> {
  const c = await wsClient(port, options)
  c.ws.send(CONNECT)
  await c.packetsReach(1)
  return c
}

const status = (p: Promise<unknown>) => p.then(() => 101, (err: { status?: number }) => err.status ?? 0)

const wsBroker = (websocket: Record<string, unknown>, extra: Record<string, unknown> = {}) => startBroker({
  listeners: { tcp: { default: { bind: '127.0.0.1:0' } }, ws: { default: { bind: '127.0.0.1:0', websocket } } },
  ...extra,
})

t.test('check_origin_enable: Origin checked against check_origins, absence as allow_origin_absence says', async (t) => {
  const b = await startBroker({
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ws: {
        default: { bind: '127.0.0.1:0', websocket: { check_origin_enable: true, check_origins: 'https://app.example, http://127.0.0.1:18083', allow_origin_absence: false } },
        lax: { bind: '127.0.0.1:0', websocket: { check_origin_enable: true, check_origins: ['https://app.example'] } },
        off: { bind: '127.0.0.1:0' },
      },
    },
  })
  t.teardown(() => b.close())
  const port = b.wsPort
  t.equal(await status(wsClient(port, { origin: 'https://app.example' }).then((c) => c.ws.terminate())), 101, 'listed origin accepted')
  t.equal(await status(wsClient(port, { origin: 'https://evil.example' })), 403, 'other origin refused')
  t.equal(await status(wsClient(port)), 403, 'no Origin refused (allow_origin_absence = false)')
  await waitForLog(b.logs, (l) => l.origin === 'https://evil.example' && String(l.msg).includes('check_origins'))
  const lax = b.broker.port('ws', 'lax')
  t.equal(await status(wsClient(lax).then((c) => c.ws.terminate())), 101, 'no Origin accepted by default')
  t.equal(await status(wsClient(lax, { origin: 'http://127.0.0.1:18083' })), 403, 'check_origins replaced the default list')
  t.equal(await status(wsClient(b.broker.port('ws', 'off'), { origin: 'https://evil.example' }).then((c) => c.ws.terminate())), 101, 'unchecked by default')
})

t.test('max_frame_size: a larger WebSocket message closes the connection (1009)', async (t) => {
  const b = await wsBroker({ max_frame_size: 100 })
  t.teardown(() => b.close())
  const c = await connected(b.wsPort)
  c.ws.send(mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(50), qos: 0, retain: false, dup: false }))
  c.ws.send(PINGREQ)
  await c.packetsReach(2)
  t.equal(c.packets[1]!.cmd, 'pingresp', 'a 55-byte message passes')
  c.ws.send(mqttPacket.generate({ cmd: 'publish', topic: 't', payload: Buffer.alloc(200), qos: 0, retain: false, dup: false }))
  t.equal(await c.closed, 1009, 'a 205-byte message closes it')
  await waitForLog(b.logs, (l) => String(l.msg).includes('larger than websocket.max_frame_size (100 bytes)'))
})

t.test('idle_timeout: a WebSocket that receives nothing for that long is closed; one that sends stays', async (t) => {
  const b = await wsBroker({ idle_timeout: '600ms' })
  t.teardown(() => b.close())
  const silent = await connected(b.wsPort)
  const talking = await connected(b.wsPort)
  const started = Date.now()
  // The talking client pings every 200 ms, answered each time, for 1.2 s: twice the idle timeout.
  for (let i = 0; i < 6; i++) {
    talking.ws.send(PINGREQ)
    await talking.packetsReach(2 + i)
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  t.ok(await within(3000, silent.closed), 'the silent one is closed')
  t.ok(Date.now() - started >= 600, 'not before idle_timeout')
  t.equal(talking.ws.readyState, WebSocket.OPEN, 'the talking one is open')
  await waitForLog(b.logs, (l) => String(l.msg).includes('websocket.idle_timeout'))
  talking.ws.terminate()
})

t.test('compress: permessage-deflate is negotiated only when on, with deflate_opts', async (t) => {
  const b = await startBroker({
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ws: {
        default: { bind: '127.0.0.1:0', websocket: { compress: true, deflate_opts: { server_context_takeover: 'no_takeover', level: 'best_speed' } } },
        plain: { bind: '127.0.0.1:0' },
      },
    },
  })
  t.teardown(() => b.close())
  const on = await connected(b.wsPort, { perMessageDeflate: { threshold: 0 } })
  t.match(on.ws.extensions, /^permessage-deflate/, 'negotiated')
  t.match(on.extensions, /server_no_context_takeover/, 'deflate_opts.server_context_takeover = no_takeover')
  on.ws.send(PINGREQ)
  await on.packetsReach(2)
  t.same(on.packets.map((p) => p.cmd), ['connack', 'pingresp'], 'MQTT works over it')
  const off = await connected(b.broker.port('ws', 'plain'), { perMessageDeflate: { threshold: 0 } })
  t.equal(off.ws.extensions, '', 'not negotiated when off (the default)')
  t.equal(off.extensions, '')
  on.ws.terminate()
  off.ws.terminate()
})

t.test('mqtt_piggyback: single sends each packet in its own message, multiple lets them share', async (t) => {
  const b = await startBroker({
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ws: { default: { bind: '127.0.0.1:0', websocket: { mqtt_piggyback: 'single' } }, multi: { bind: '127.0.0.1:0' } },
    },
  })
  t.teardown(() => b.close())
  for (const [name, expected] of [['default', [2, 2, 2]], ['multi', [6]]] as const) {
    const c = await connected(b.broker.port('ws', name))
    const before = c.messages.length
    // Three PINGREQs in one message: three PINGRESPs, answered in the same turn.
    c.ws.send(Buffer.concat([PINGREQ, PINGREQ, PINGREQ]))
    await c.packetsReach(4)
    t.same(c.messages.slice(before).map((m) => m.length), expected, `${name}: messages of ${expected.join(', ')} bytes`)
    c.ws.terminate()
  }
})

t.test('validate_utf8: a text message that is not UTF-8 closes the connection (1007) unless off', async (t) => {
  const b = await startBroker({
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ws: { default: { bind: '127.0.0.1:0' }, raw: { bind: '127.0.0.1:0', websocket: { validate_utf8: false } } },
    },
  })
  t.teardown(() => b.close())
  // PINGREQ's first byte, 0xC0, is never valid UTF-8.
  const strict = await connected(b.wsPort)
  strict.ws.send(PINGREQ, { binary: false })
  t.equal(await strict.closed, 1007)
  const lax = await connected(b.broker.port('ws', 'raw'))
  lax.ws.send(PINGREQ, { binary: false })
  await lax.packetsReach(2)
  t.equal(lax.packets[1]!.cmd, 'pingresp', 'read as MQTT when validate_utf8 = false')
  lax.ws.terminate()
})

t.test('proxy_address_header / proxy_port_header: the client address behind a proxy, only when configured', async (t) => {
  const seen: ClientInfo[] = []
  const b = await startBroker({
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0' } },
      ws: {
        default: { bind: '127.0.0.1:0', websocket: { proxy_address_header: 'X-Forwarded-For', proxy_port_header: 'x-forwarded-port' } },
        direct: { bind: '127.0.0.1:0' },
      },
    },
    authorization: { sources: [{ type: 'file', rules: '{deny, {ipaddr, "203.0.113.0/24"}, subscribe, ["#"]}.\n' }] },
  }, { hooks: { clientConnected: (client: ClientInfo) => { seen.push(client) } } })
  t.teardown(() => b.close())
  const headers = { 'x-forwarded-for': '203.0.113.7, 10.0.0.1', 'x-forwarded-port': '4711' }
  const proxied = await connected(b.wsPort, { headers })
  t.same([seen[0]!.remoteAddress, seen[0]!.remotePort], ['203.0.113.7', 4711], 'address and port from the headers')
  proxied.ws.send(mqttPacket.generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 't', qos: 0 }] }))
  await proxied.packetsReach(2)
  t.same((proxied.packets[1] as { granted: number[] }).granted, [128], 'ACL ipaddr rules see the forwarded address')

  const bad = await connected(b.wsPort, { headers: { 'x-forwarded-for': 'not-an-ip', 'x-forwarded-port': 'x' } })
  t.equal(seen[1]!.remoteAddress, '127.0.0.1', 'an unreadable header is ignored')
  const direct = await connected(b.broker.port('ws', 'direct'), { headers })
  t.equal(seen[2]!.remoteAddress, '127.0.0.1', 'not trusted where not configured')
  t.not(seen[2]!.remotePort, 4711)
  for (const c of [proxied, bad, direct]) c.ws.terminate()
})
