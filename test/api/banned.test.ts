// /api/v5/banned: bans by client id, user name, peer address and pattern refuse CONNECT with 0x8A
// (MQTT 5) or 5 (MQTT 3), kick a connected client, expire, and go away on DELETE.
import t from 'tap'
import { connectClient, delay, end, rawConnect, within } from '../helpers.js'
import { ADMIN, startApiBroker } from './api-helpers.js'

/** CONNACK code a raw client gets: reasonCode for MQTT 5, returnCode for 3.1.1. */
async function connack (port: number, v: 4 | 5, clientId: string, username?: string): Promise<number | undefined> {
  const { raw, connack } = await rawConnect(port, v, { clientId, ...(username ? { username } : {}) })
  raw.socket.destroy()
  return v === 5 ? connack.reasonCode : connack.returnCode
}

t.test('ban by clientid, username and peerhost: CONNACK 0x8A / 5, logged; DELETE unbans', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const port = b.tcpPort

  const created = await b.call('/api/v5/banned', { method: 'POST', json: { as: 'clientid', who: 'bad-id', by: 'ops', reason: 'flooding' } })
  t.equal(created.status, 200)
  t.match(created.json, { as: 'clientid', who: 'bad-id', by: 'ops', reason: 'flooding', at: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$/ })
  const year = Date.parse(created.json.until) - Date.parse(created.json.at)
  t.equal(year, 365 * 24 * 3600 * 1000, 'without until: one year, EMQX\'s default')

  t.equal(await connack(port, 5, 'bad-id'), 0x8a, 'MQTT 5: 0x8A Banned')
  t.equal(await connack(port, 4, 'bad-id'), 5, 'MQTT 3.1.1: 5 Not authorized')
  t.equal(await connack(port, 5, 'good-id'), 0, 'another client id connects')
  const line = b.logs.find((l) => l.msg === 'client is banned')
  t.match(line, { as: 'clientid', who: 'bad-id', reason: 'flooding' }, 'the refusal is logged with the ban')

  await b.call('/api/v5/banned', { method: 'POST', json: { as: 'username', who: 'mallory' } })
  t.equal(await connack(port, 5, 'any-id', 'mallory'), 0x8a, 'banned user name')
  t.equal(await connack(port, 5, 'any-id', 'alice'), 0, 'other user names connect')

  const list = await b.call('/api/v5/banned')
  t.same(list.json.data.map((x: { as: string, who: string }) => `${x.as}:${x.who}`), ['clientid:bad-id', 'username:mallory'])
  t.same(list.json.meta, { page: 1, limit: 100, count: 2, hasnext: false })

  const dup = await b.call('/api/v5/banned', { method: 'POST', json: { as: 'clientid', who: 'bad-id' } })
  t.equal(dup.status, 400)
  t.equal(dup.json.code, 'ALREADY_EXISTS')

  t.equal((await b.call('/api/v5/banned/clientid/bad-id', { method: 'DELETE' })).status, 204)
  t.equal(await connack(port, 5, 'bad-id'), 0, 'unbanned: connects again')
  const again = await b.call('/api/v5/banned/clientid/bad-id', { method: 'DELETE' })
  t.equal(again.status, 404)
  t.equal(again.json.code, 'NOT_FOUND')

  await b.call('/api/v5/banned', { method: 'POST', json: { as: 'peerhost', who: '127.0.0.1' } })
  t.equal(await connack(port, 5, 'anyone'), 0x8a, 'the whole peer address is banned')
  t.equal((await b.call('/api/v5/banned', { method: 'DELETE' })).status, 204, 'DELETE /banned clears them all')
  t.equal(await connack(port, 5, 'anyone'), 0)
  t.equal((await b.call('/api/v5/banned')).json.meta.count, 0)
})

t.test('patterns: clientid_re and peerhost_net', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  await b.call('/api/v5/banned', { method: 'POST', json: { as: 'clientid_re', who: '^bot-\\d+$' } })
  t.equal(await connack(b.tcpPort, 5, 'bot-17'), 0x8a)
  t.equal(await connack(b.tcpPort, 5, 'bot-x'), 0)
  await b.call('/api/v5/banned', { method: 'POST', json: { as: 'peerhost_net', who: '127.0.0.0/8' } })
  t.equal(await connack(b.tcpPort, 5, 'bot-x'), 0x8a, 'the loopback network is banned')
  t.equal((await b.call('/api/v5/banned/peerhost_net/127.0.0.0%2F8', { method: 'DELETE' })).status, 204, 'a CIDR who is URL-encoded')
  t.equal(await connack(b.tcpPort, 5, 'bot-x'), 0)
})

t.test('a ban expires at until (RFC 3339 or epoch seconds)', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const until = new Date(Date.now() + 1200).toISOString()
  const r = await b.call('/api/v5/banned', { method: 'POST', json: { as: 'clientid', who: 'brief', until } })
  t.equal(r.status, 200)
  t.equal(await connack(b.tcpPort, 5, 'brief'), 0x8a, 'banned for now')
  await delay(1300)
  t.equal(await connack(b.tcpPort, 5, 'brief'), 0, 'the expired ban no longer applies')
  t.equal((await b.call('/api/v5/banned')).json.meta.count, 0, 'and is no longer listed')

  const epoch = Math.floor(Date.now() / 1000) + 3600
  const e = await b.call('/api/v5/banned', { method: 'POST', json: { as: 'username', who: 'u', until: epoch } })
  t.equal(Date.parse(e.json.until), epoch * 1000, 'epoch seconds accepted')
})

t.test('a new ban disconnects the client it covers (0x98: 0x8A is CONNACK-only)', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const victim = await connectClient(b.tcpPort, { clientId: 'victim', protocolVersion: 5 })
  const bystander = await connectClient(b.tcpPort, { clientId: 'bystander', protocolVersion: 5 })
  victim.on('error', () => {})
  t.teardown(() => Promise.all([end(victim, true), end(bystander, true)]))
  const disconnect = new Promise<number | undefined>((resolve) => victim.once('disconnect', (p) => resolve(p.reasonCode)))
  const closed = new Promise<void>((resolve) => victim.once('close', () => resolve()))
  await b.call('/api/v5/banned', { method: 'POST', json: { as: 'clientid', who: 'victim' } })
  t.equal(await disconnect, 0x98)
  t.ok(await within(2000, closed))
  t.notOk(b.broker.core.clients.has('victim'))
  t.ok(bystander.connected, 'the others stay')
})

t.test('bad requests: EMQX error bodies', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const cases: [string, unknown, RegExp][] = [
    ['not an IP', { as: 'peerhost', who: 'BadHost' }, /not an IP address/],
    ['bad CIDR', { as: 'peerhost_net', who: '10.0.0.0/40' }, /CIDR/],
    ['bad regex', { as: 'clientid_re', who: '(' }, /regular expression/],
    ['already expired', { as: 'clientid', who: 'x', until: new Date(Date.now() - 1000).toISOString() }, /expired/],
    ['bad date', { as: 'clientid', who: 'x', until: 'next tuesday' }, /RFC 3339/],
    ['unknown kind', { as: 'mac', who: 'x' }, /as/],
    ['missing who', { as: 'clientid' }, /who/],
  ]
  for (const [what, body, message] of cases) {
    const r = await b.call('/api/v5/banned', { method: 'POST', json: body })
    t.equal(r.status, 400, what)
    t.equal(r.json.code, 'BAD_REQUEST', what)
    t.match(r.json.message, message, what)
  }
  t.equal(b.broker.core.banned.size, 0, 'nothing was added')
})

t.test('flapping_detect: the ban is listed (by "flapping detector") and DELETE lifts it', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN], config: { flapping_detect: { enable: true, max_count: 2, window_time: '30s', ban_time: '5m' } } })
  t.equal(await connack(b.tcpPort, 5, 'flap'), 0)
  t.equal(await connack(b.tcpPort, 5, 'flap'), 0)
  t.equal(await connack(b.tcpPort, 5, 'flap'), 0x8a, 'banned after max_count CONNECTs')
  const list = await b.call('/api/v5/banned')
  t.match(list.json.data, [{ as: 'clientid', who: 'flap', by: 'flapping detector', reason: 'flapping is detected' }])
  const { at, until } = list.json.data[0] as { at: string, until: string }
  t.equal(Date.parse(until) - Date.parse(at), 5 * 60_000, 'for ban_time')
  t.equal((await b.call('/api/v5/banned/clientid/flap', { method: 'DELETE' })).status, 204)
  t.equal(await connack(b.tcpPort, 5, 'flap'), 0, 'the ban lifted: connects (a new window)')
})
