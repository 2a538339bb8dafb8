// flapping_detect: a client id that connects max_count times within window_time is banned as clientid for
// ban_time (EMQX 5.8 counts each CONNECT that passes the ban check); the window ends, the count restarts;
// the tracking map stays bounded.
import t from 'tap'
import { FlappingDetector } from '../../src/mqtt/flapping.js'
import { BanList } from '../../src/mqtt/banned.js'
import { memoryLog, rawConnect, startBroker, type TestBroker } from '../helpers.js'
import { tempDir, until } from '../api/api-helpers.js'

type Teardown = Parameters<typeof tempDir>[0]

async function broker (t: Teardown, flapping: Record<string, unknown>): Promise<TestBroker> {
  const b = await startBroker({ node: { data_dir: await tempDir(t, 'culex-flap-') }, flapping_detect: flapping })
  t.teardown(() => b.close())
  return b
}

/** The CONNACK reason code (MQTT 5) a fresh connection of `clientId` gets; the connection is then dropped. */
async function connack (port: number, clientId: string): Promise<number | undefined> {
  const { raw, connack } = await rawConnect(port, 5, { clientId })
  raw.socket.destroy()
  return connack.reasonCode
}

t.test('the max_count-th CONNECT within window_time bans the client id; the next gets 0x8A; others connect', async (t) => {
  const b = await broker(t, { enable: true, max_count: 3, window_time: '30s', ban_time: '7m' })
  // U+2028 passes CONNECT's checks (C0/C1 controls do not) but would break a log line.
  const id = 'flappy\u2028line'
  for (let i = 1; i <= 3; i++) t.equal(await connack(b.tcpPort, id), 0, `CONNECT ${i} of 3 is served`)
  t.equal(await connack(b.tcpPort, id), 0x8a, 'the 4th is refused: Banned')
  t.equal(await connack(b.tcpPort, 'steady'), 0, 'another client id connects')

  const ban = b.broker.core.banned.list().find((x) => x.who === id)
  t.match(ban, { as: 'clientid', by: 'flapping detector', reason: 'flapping is detected' })
  t.equal(ban!.until - ban!.at, 7 * 60_000, 'banned for ban_time')

  const line = await until(() => b.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('flapping detected')), 'the warning')
  t.equal(line.level, 40, 'logged at warning')
  t.equal(line.clientid, 'flappy\\u2028line', 'the client id with its line separator escaped')
  t.equal(line.detect_cnt, 3)
  t.equal(line.peerhost, '127.0.0.1')
})

t.test('the window ends: entries are swept and the count starts again', async (t) => {
  const b = await broker(t, { enable: true, max_count: 2, window_time: '1s', ban_time: '1m' })
  t.equal(await connack(b.tcpPort, 'slow'), 0, 'first CONNECT counted')
  t.equal(b.broker.core.flapping.size, 1, 'tracked')
  await until(() => b.broker.core.flapping.size === 0, 'the window to be swept', 10_000)
  t.equal(await connack(b.tcpPort, 'slow'), 0, 'a CONNECT after the window starts a new count: not banned')
  t.notOk(b.broker.core.banned.get('clientid', 'slow'), 'no ban yet')
  t.equal(await connack(b.tcpPort, 'slow'), 0, 'the second within the new window is served')
  t.ok(b.broker.core.banned.get('clientid', 'slow'), 'and bans')
  t.equal(await connack(b.tcpPort, 'slow'), 0x8a)
})

t.test('disabled (EMQX\'s default): no count, no ban', async (t) => {
  const b = await broker(t, { max_count: 1 })
  for (let i = 0; i < 3; i++) t.equal(await connack(b.tcpPort, 'again'), 0)
  t.equal(b.broker.core.flapping.size, 0, 'nothing tracked')
  t.equal(b.broker.core.banned.list().length, 0)
})

t.test('a refused (banned) CONNECT is not counted; a failed authentication is (as EMQX counts before authn)', async (t) => {
  const b = await broker(t, { enable: true, max_count: 2, window_time: '30s' })
  b.broker.core.banned.add({ as: 'clientid', who: 'gone', by: 't', reason: '', at: Date.now(), until: Date.now() + 60_000 })
  t.equal(await connack(b.tcpPort, 'gone'), 0x8a)
  t.equal(b.broker.core.flapping.size, 0, 'a banned CONNECT is not counted')
  b.broker.addHook('authenticate', (client) => client.clientId === 'wrong' ? { result: 'deny' } : { result: 'ok' })
  t.equal(await connack(b.tcpPort, 'wrong'), 0x87, 'authentication fails')
  t.equal(await connack(b.tcpPort, 'wrong'), 0x87, 'twice: the second reaches max_count')
  t.equal(await connack(b.tcpPort, 'wrong'), 0x8a, 'then the ban refuses it')
})

t.test('the tracking map is bounded: a flood of distinct client ids', async (t) => {
  const { log } = memoryLog()
  const bans = new BanList()
  const d = new FlappingDetector({ config: { enable: true, max_count: 3, window_time: 60_000, ban_time: 60_000 }, log, bans, maxTracked: 100 })
  t.teardown(() => d.close())
  const now = Date.now()
  for (let i = 0; i < 10_000; i++) d.connecting(`id-${i}`, '10.0.0.1', now)
  t.equal(d.size, 100, 'never more than maxTracked entries')
  d.connecting('late', '10.0.0.1', now)
  d.connecting('late', '10.0.0.1', now)
  t.ok(d.connecting('late', '10.0.0.1', now), 'a client id counted among the flood is still detected')
  d.sweep(now + 60_000)
  t.equal(d.size, 0, 'every window over: nothing left')
  t.equal(bans.size, 1)
})
