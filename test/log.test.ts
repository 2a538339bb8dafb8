// The text log (log.file / log.console with formatter = text): what a client sends cannot forge a line or
// a field. Issue 15 item 14: a client id or topic with "\n" and a made-up log line after it.
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import type { IConnectPacket } from 'mqtt-packet'
import t, { type Test } from 'tap'
import { createLog, escapeControl } from '../src/log.js'
import { loadConfig } from '../src/config/load.js'
import { connectClient, delay, rawConnect, rawMqtt, startBroker, within } from './helpers.js'

const FORGED = '2026-01-01T00:00:00.000Z [error] forged line'

/** A broker logging at info to a text file; returns the file's lines once `until` holds (bounded). */
async function textLogBroker (t: Test) {
  const path = join(t.testdir({}), 'culex.log')
  const config = loadConfig({ config: { log: {
    console: { enable: false, level: 'info', formatter: 'text' },
    file: { t: { enable: true, level: 'info', formatter: 'text', path } },
  } }, env: {} }).config.log
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

/** A logger from the log section as a configuration file would give it. */
function logFrom (log: Record<string, unknown>) {
  return createLog(loadConfig({ config: { log: { console: { enable: false }, ...log } }, env: {} }).config.log)
}

async function fileText (path: string, until: (text: string) => boolean): Promise<string> {
  const deadline = Date.now() + 3000
  for (;;) {
    const text = await readFile(path, 'utf8').catch(() => '')
    if (until(text) || Date.now() > deadline) return text
    await delay(20)
  }
}

t.test('log.file rotation_size and rotation_count: <path>.0 is the newest rotated file, at most rotation_count kept', async (t) => {
  const dir = t.testdir({})
  const path = join(dir, 'emqx.log')
  const log = logFrom({ file: { default: { enable: true, level: 'info', path, rotation_size: '1KB', rotation_count: 2 } } })
  for (let i = 0; i < 60; i++) log.info(`line ${String(i).padStart(3, '0')} ${'x'.repeat(60)}`)
  await fileText(path, (text) => text.includes('line 059'))
  const files = (await readdir(dir)).sort()
  t.same(files, ['emqx.log', 'emqx.log.0', 'emqx.log.1'], 'the live file and two rotated ones')
  for (const f of files) t.ok((await stat(join(dir, f))).size <= 1024, `${f} is within rotation_size`)
  const newest = await readFile(join(dir, 'emqx.log.0'), 'utf8')
  const older = await readFile(join(dir, 'emqx.log.1'), 'utf8')
  const first = (text: string) => Number(/line (\d+)/.exec(text)![1])
  t.ok(first(older) < first(newest) && first(newest) < first(await readFile(path, 'utf8')), '.1 older than .0, older than the live file')
  t.notOk(older.includes('line 000'), 'the oldest lines went with the file past rotation_count')
})

t.test('chars_limit cuts long lines (text) and long values (json); timestamp_format epoch and rfc3339', async (t) => {
  const dir = t.testdir({})
  const text = join(dir, 'text.log')
  const json = join(dir, 'json.log')
  const log = logFrom({
    file: {
      text: { enable: true, level: 'info', path: text, chars_limit: 100, timestamp_format: 'epoch' },
      json: { enable: true, level: 'info', path: json, formatter: 'json', chars_limit: 100, timestamp_format: 'rfc3339', time_offset: '+02:00' },
    },
  })
  const before = Date.now()
  log.info({ topic: 't'.repeat(300) }, 'm'.repeat(300))
  const textLine = (await fileText(text, (s) => s.endsWith('\n'))).trim()
  const jsonLine = (await fileText(json, (s) => s.endsWith('\n'))).trim()
  const [time, level, body] = textLine.split(' ')
  t.ok(Number(time) >= before * 1000 && Number(time) <= Date.now() * 1000, 'epoch: microseconds')
  t.equal(level, '[info]')
  t.equal(body, `${'m'.repeat(100)}...`, 'the line is cut at 100 characters')
  const record = JSON.parse(jsonLine) as Record<string, string>
  t.match(record.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+02:00$/, 'rfc3339 at time_offset')
  t.equal(record.msg, `${'m'.repeat(100)}...`)
  t.equal(record.topic, `${'t'.repeat(100)}...`, 'each string value is cut, and the line stays JSON')
})

t.test('log.throttling: refused clients logged once per time_window, then the count of those dropped', async (t) => {
  const path = join(t.testdir({}), 'emqx.log')
  const logger = logFrom({ throttling: { time_window: '1s' }, file: { default: { enable: true, level: 'info', path } } })
  // Every client is refused by the authenticate hook: "authentication refused" (EMQX's authentication_failure).
  const b = await startBroker({}, { logger, hooks: { authenticate: () => ({ result: 'deny', reason: 'nobody gets in' }) } })
  t.teardown(() => b.close())
  for (let i = 0; i < 5; i++) {
    await t.rejects(connectClient(b.tcpPort, { clientId: `refused-${i}` }), 'refused')
  }
  // Written plus counted as dropped makes five once the window (or, on a slow machine, the windows) ended.
  const tally = (text: string) => {
    const lines = text.split('\n').filter((l) => l !== '')
    const written = lines.filter((l) => l.includes('authentication refused'))
    const summaries = lines.filter((l) => l.includes('log events throttled during the last period'))
    const dropped = summaries.reduce((n, l) => n + Number(/"authentication_failure":(\d+)/.exec(l)?.[1] ?? 0), 0)
    return { written, summaries, dropped }
  }
  const { written, summaries, dropped } = tally(await fileText(path, (s) => { const c = tally(s); return c.written.length + c.dropped === 5 }))
  t.equal(written.length + dropped, 5, 'written and dropped add up to the five refusals')
  t.ok(written.length < 5, `not every refusal written (${written.length} of 5)`)
  t.ok(written[0]!.includes('clientid=refused-0'), 'the first refusal of a window is the one written')
  t.match(summaries[0], /^\S+ \[warning\] log events throttled during the last period dropped=\{"authentication_failure":\d\} period=1s$/, 'one warning per window with the count per kind')
})

t.test('log.throttling: msgs = [] or a debug handler throttles nothing; an unknown kind is refused', async (t) => {
  const dir = t.testdir({})
  const none = logFrom({ throttling: { msgs: [] }, file: { a: { enable: true, level: 'info', path: join(dir, 'none.log') } } })
  const debug = logFrom({ file: { b: { enable: true, level: 'debug', path: join(dir, 'debug.log') } } })
  for (const log of [none, debug]) for (let i = 0; i < 3; i++) log.warning({ n: i }, 'authentication refused')
  for (const name of ['none.log', 'debug.log']) {
    const text = await fileText(join(dir, name), (s) => s.includes('n=2'))
    t.equal(text.split('\n').filter((l) => l.includes('authentication refused')).length, 3, `${name}: all three written`)
  }
  t.throws(() => logFrom({ throttling: { msgs: ['no_such_event'] } }), { message: /log\.throttling\.msgs\.0/ })
  t.throws(() => logFrom({ throttling: { time_window: '500ms' } }), { message: /log\.throttling\.time_window: expected at least 1s/ })
})

t.test('log.<handler>.burst_limit: max_count lines per window_time, the rest dropped and counted', async (t) => {
  const dir = t.testdir({})
  const limited = join(dir, 'limited.log')
  const free = join(dir, 'free.log')
  const log = logFrom({
    file: {
      limited: { enable: true, level: 'info', path: limited, burst_limit: { max_count: 5, window_time: '300ms' } },
      free: { enable: true, level: 'info', path: free, burst_limit: { enable: false, max_count: 5 } },
    },
  })
  for (let i = 0; i < 20; i++) log.info(`burst ${i}`)
  const text = await fileText(limited, (s) => s.includes('dropped by'))
  const lines = text.split('\n').filter((l) => l !== '')
  t.same(lines.filter((l) => l.includes('burst ')).map((l) => l.split('] ')[1]), ['burst 0', 'burst 1', 'burst 2', 'burst 3', 'burst 4'], 'the first five of the window')
  t.match(lines.at(-1), /\[warning\] log lines dropped by log\.file\.limited\.burst_limit dropped=15 window_ms=300 max_count=5$/)
  log.info('after the window')
  t.ok((await fileText(limited, (s) => s.includes('after the window'))).includes('after the window'), 'a new window writes again')
  const all = await fileText(free, (s) => s.includes('burst 19'))
  t.equal(all.split('\n').filter((l) => l.includes('burst ')).length, 20, 'enable = false: every line')
})
