// The text log (log.file / log.console with formatter = text): what a client sends cannot forge a line or
// a field. Issue 15 item 14: a client id or topic with "\n" and a made-up log line after it.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { IConnectPacket } from 'mqtt-packet'
import t, { type Test } from 'tap'
import { createLog, escapeControl } from '../src/log.js'
import type { CulexConfig } from '../src/config/schema.js'
import { delay, rawConnect, rawMqtt, startBroker, within } from './helpers.js'

const FORGED = '2026-01-01T00:00:00.000Z [error] forged line'

/** A broker logging at info to a text file; returns the file's lines once `until` holds (bounded). */
async function textLogBroker (t: Test) {
  const path = join(t.testdir({}), 'culex.log')
  const config = {
    console: { enable: false, level: 'info', formatter: 'text' },
    file: { t: { enable: true, level: 'info', formatter: 'text', path } },
  } as unknown as CulexConfig['log']
  const b = await startBroker({}, { logger: createLog(config) })
  t.teardown(() => b.close())
  const lines = async (until: (lines: string[]) => boolean): Promise<string[]> => {
    const deadline = Date.now() + 3000
    for (;;) {
      const text = await readFile(path, 'utf8').catch(() => '')
      const all = text.split('\n').filter((l) => l !== '')
      if (until(all) || Date.now() > deadline) return all
      await delay(20)
    }
  }
  return { ...b, lines }
}

t.test('a client id with "\\n" and a forged line: refused at CONNECT, and the text log has no extra line', async (t) => {
  const b = await textLogBroker(t)
  for (const protocolVersion of [4, 5] as const) {
    const raw = await rawMqtt(b.tcpPort, protocolVersion)
    t.teardown(() => raw.socket.destroy())
    raw.send({ cmd: 'connect', protocolId: 'MQTT', protocolVersion, clean: true, keepalive: 0, clientId: `evil\n${FORGED}` } as IConnectPacket)
    const connack = await raw.take('connack')
    t.equal(protocolVersion === 5 ? connack.reasonCode : connack.returnCode, protocolVersion === 5 ? 0x85 : 2, `MQTT ${protocolVersion}: Client Identifier not valid`)
    t.ok(await within(3000, raw.closed), 'and the connection is closed')
  }
  const lines = await b.lines((l) => l.filter((x) => x.includes('client identifier contains a control character')).length >= 2)
  t.equal(lines.filter((l) => l.includes('client identifier contains a control character')).length, 2, 'each refusal is logged')
  t.notOk(lines.some((l) => l.startsWith(FORGED)), 'no line starts with the forged text')
  t.ok(lines.every((l) => /^\d{4}-\d\d-\d\dT[\d:.]+Z \[\w+\] /.test(l)), 'every line is one of the broker\'s')
})

t.test('a topic filter with "\\n" is logged escaped and quoted, on its own line', async (t) => {
  const b = await textLogBroker(t)
  const { raw } = await rawConnect(b.tcpPort, 4, { clientId: 'filters' })
  t.teardown(() => raw.socket.destroy())
  // An invalid filter is refused and logged with the filter as sent.
  raw.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: `a#\n${FORGED} client=admin`, qos: 0 }] })
  t.same((await raw.take('suback')).granted, [128])
  const lines = await b.lines((l) => l.some((x) => x.includes('SUBSCRIBE refused')))
  const refusal = lines.find((l) => l.includes('SUBSCRIBE refused'))
  t.ok(refusal, 'the refusal is logged')
  t.match(refusal, `filter="a#\\n${FORGED} client=admin"`, 'the filter is one quoted field with \\n escaped')
  t.notOk(lines.some((l) => l.startsWith(FORGED)), 'no forged line')
})

t.test('escapeControl: C0, DEL, C1 and the Unicode line separators', async (t) => {
  t.equal(escapeControl('a\r\n\tb'), 'a\\r\\n\\tb')
  t.equal(escapeControl('\u001b[31mred\u007f\u0085\u2028'), '\\u001b[31mred\\u007f\\u0085\\u2028')
  t.equal(escapeControl('plain text, ünïcode'), 'plain text, ünïcode')
})
