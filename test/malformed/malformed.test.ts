// Runs every row of test/malformed/*.json on one broker over raw TCP; a row is { name, spec, protocol: 4|5, connect (send a valid CONNECT first), bytes (hex, spaces ignored; {61*65535} is byte 61 65,535 times), expect: { replies? (hex packets expected first), connack? (code of the CONNACK expected), disconnect_reason (v5 DISCONNECT code expected before the close, or null: nothing more, just the close) } }.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqttPacket from 'mqtt-packet'
import t from 'tap'
import { collect, connectClient, delay, end, rawSocket, startBroker } from '../helpers.js'

interface Row {
  name: string
  spec: string
  protocol: 4 | 5
  connect: boolean
  bytes: string
  expect: { disconnect_reason: number | null, connack?: number, replies?: string[] }
}

interface Frame { type: number, body: Buffer, raw: Buffer }

const dir = dirname(fileURLToPath(import.meta.url))
const tables = readdirSync(dir).filter((f) => f.endsWith('.json')).sort()
  .map((file) => ({ file, rows: JSON.parse(readFileSync(join(dir, file), 'utf8')) as Row[] }))

function hex (text: string): Buffer {
  const clean = text.replace(/\{([0-9a-fA-F]{2})\*(\d+)\}/g, (_, byte: string, count: string) => byte.repeat(Number(count))).replace(/\s+/g, '')
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`not a hex string: ${text}`)
  return Buffer.from(clean, 'hex')
}

/** Splits what the broker sent into packets; throws on a truncated one. */
function frames (buf: Buffer): Frame[] {
  const out: Frame[] = []
  let i = 0
  while (i < buf.length) {
    let length = 0
    let multiplier = 1
    let j = i + 1
    for (;;) {
      if (j >= buf.length) throw new Error(`truncated fixed header in ${buf.toString('hex')}`)
      const byte = buf[j++]!
      length += (byte & 0x7f) * multiplier
      multiplier *= 128
      if ((byte & 0x80) === 0) break
    }
    if (j + length > buf.length) throw new Error(`truncated packet in ${buf.toString('hex')}`)
    out.push({ type: buf[i]! >> 4, body: buf.subarray(j, j + length), raw: buf.subarray(i, j + length) })
    i = j + length
  }
  return out
}

async function until<T> (fn: () => T | undefined, timeoutMs = 3000): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const value = fn()
    if (value !== undefined || Date.now() > deadline) return value
    await delay(10)
  }
}

function connectBytes (protocol: 4 | 5, clientId: string): Buffer {
  return mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: protocol, clientId, clean: true, keepalive: 0 })
}

const b = await startBroker({ mqtt: { max_packet_size: 256, max_awaiting_rel: 2, max_topic_alias: 10 } })
t.teardown(() => b.close())

// The well-behaved client is connected through every row and must still be served after them.
const subscriber = await connectClient(b.tcpPort, { protocolVersion: 5, clientId: 'well-behaved-sub' })
t.teardown(() => end(subscriber, true))
await subscriber.subscribeAsync('wb/#', { qos: 1 })
const inbox = collect(subscriber)

let rowIndex = 0
for (const { file, rows } of tables) {
  t.test(file, async (t) => {
    for (const row of rows) {
      const index = rowIndex++
      await t.test(`${row.name} [${row.spec}]`, async (t) => {
        // Only this row's lines: an earlier row's connection may have had the same local port.
        const logsBefore = b.logs.length
        const { socket, received, closed } = await rawSocket(b.tcpPort)
        t.teardown(() => { socket.destroy() })
        const port = socket.localPort
        let offset = 0
        if (row.connect) {
          socket.write(connectBytes(row.protocol, `malformed-${index}`))
          const connack = await until(() => received().length >= 4 ? frames(received())[0] : undefined)
          t.equal(connack?.type, 2, 'CONNACK to the valid CONNECT')
          t.equal(connack?.body[1], 0, 'CONNECT accepted')
          offset = received().length
        }
        socket.write(hex(row.bytes))
        const timedOut = await Promise.race([closed.then(() => false), delay(3000).then(() => true)])
        t.notOk(timedOut, 'the broker closed the connection within 3 s')
        if (timedOut) return

        const replies = frames(received().subarray(offset))
        let k = 0
        for (const reply of row.expect.replies ?? []) {
          t.equal(replies[k++]?.raw.toString('hex'), hex(reply).toString('hex'), 'expected reply before the close')
        }
        if (row.expect.connack !== undefined) {
          const f = replies[k++]
          t.equal(f?.type, 2, 'CONNACK before the close')
          t.equal(f?.body[1], row.expect.connack, `CONNACK code ${row.expect.connack}`)
        }
        const rc = row.expect.disconnect_reason
        if (rc !== null) {
          const f = replies[k++]
          t.equal(f?.type, 14, 'DISCONNECT before the close')
          t.equal(f?.body[0], rc, `DISCONNECT reason 0x${rc.toString(16)}`)
        }
        t.equal(replies.length, k, 'nothing else was sent')

        const line = await until(() => b.logs.slice(logsBefore).find((l) => typeof l.client === 'string' && l.client.includes(`:${port} on `) &&
          /closing connection|refused CONNECT/.test(String(l.msg))))
        t.ok(line, 'the broker logged why it closed the connection')
        if (line && rc !== null) t.match(String(line.reasonCode), `0x${rc.toString(16)}`, 'the log names the reason code')
      })
    }
  })
}

t.test('the broker still serves a well-behaved client after every row', async (t) => {
  t.ok(subscriber.connected, 'the subscriber connected before the rows is still connected')
  const publisher = await connectClient(b.tcpPort, { protocolVersion: 4, clientId: 'well-behaved-pub' })
  t.teardown(() => end(publisher, true))
  await publisher.publishAsync('wb/qos1', 'one', { qos: 1 })
  await publisher.publishAsync('wb/qos2', 'two', { qos: 2 })
  const messages = await inbox.waitFor(2)
  t.same(messages.map((m) => [m.topic, m.payload.toString()]), [['wb/qos1', 'one'], ['wb/qos2', 'two']])
  t.same(b.logs.filter((l) => (l.level as number) >= 50).map((l) => l.msg), [], 'no unexpected errors logged')
  const open = await until(() => b.broker.listener('tcp')!.connectionCount <= 2 ? true : undefined, 2000)
  t.ok(open, 'every malformed connection was released')
})
