// An expired JWT's ACL denies everything (issue 15, item 5), as EMQX's client_info source answers
// {matched, deny} once the token's exp has passed: with disconnect_after_expire = false the client stays
// connected, but may no longer subscribe or publish, and its will is not published.
import { SignJWT } from 'jose'
import t from 'tap'
import { collect, connectClient, end, rawConnect, startBroker, until } from '../helpers.js'

const SECRET = 'emqxsecret'
const hmac = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET))

t.test('after exp: subscribe #, publish and the will are denied; no fall-through to no_match = allow', async (t) => {
  const b = await startBroker({ authentication: [{ mechanism: 'jwt', secret: SECRET, disconnect_after_expire: false }] })
  t.teardown(() => b.close())
  // A token without exp and without an ACL: authorization.no_match (allow) decides for the watcher.
  const watcher = await connectClient(b.tcpPort, { protocolVersion: 5, clientId: 'watcher', username: 'w', password: Buffer.from(await hmac({})) })
  t.teardown(() => end(watcher, true))
  const seen = collect(watcher)
  await watcher.subscribeAsync('#', { qos: 1 })

  const exp = Math.floor(Date.now() / 1000) + 2
  const acl = [{ permission: 'allow', action: 'all', topic: 'dev/#' }]
  const { raw, connack } = await rawConnect(b.tcpPort, 5, {
    clientId: 'expiring',
    username: 'u',
    password: Buffer.from(await hmac({ exp, acl })),
    will: { topic: 'dev/will', payload: Buffer.from('gone'), qos: 0, retain: false },
  })
  t.teardown(() => { raw.socket.destroy() })
  t.equal(connack.reasonCode, 0)

  raw.send({ cmd: 'publish', topic: 'dev/before', payload: Buffer.from('ok'), qos: 1, messageId: 1, retain: false, dup: false })
  t.equal((await raw.take('puback')).reasonCode ?? 0, 0, 'the token allows dev/# while valid')
  await seen.waitFor(1)

  await until(() => Date.now() >= exp * 1000 + 100, 'the token to expire', 5000)

  raw.send({ cmd: 'subscribe', messageId: 2, subscriptions: [{ topic: '#', qos: 0 }, { topic: 'dev/#', qos: 0 }] })
  t.same((await raw.take('suback')).granted, [0x87, 0x87], 'SUBACK 0x87 for # and for the once-allowed dev/#')
  raw.send({ cmd: 'publish', topic: 'dev/after', payload: Buffer.from('no'), qos: 1, messageId: 3, retain: false, dup: false })
  t.equal((await raw.take('puback')).reasonCode, 0x87, 'PUBACK 0x87 on a topic the token allowed')
  raw.send({ cmd: 'publish', topic: 'elsewhere', payload: Buffer.from('no'), qos: 1, messageId: 4, retain: false, dup: false })
  t.equal((await raw.take('puback')).reasonCode, 0x87, 'PUBACK 0x87 where no_match = allow would have allowed it')
  t.notOk(raw.isClosed(), 'disconnect_after_expire = false keeps the client connected')

  raw.socket.destroy()
  await until(() => b.logs.some((l) => l.msg === 'will message dropped: publish not authorized' && l.client === 'expiring'), 'the will to be refused', 3000)
  const denial = b.logs.find((l) => l.msg === 'authorization denied publish' && l.client === 'expiring')
  t.match(denial, { source: 'token_acl', rule: 'token expired' }, 'the log names the expired token')
  // A round trip through the broker after the will was decided: anything published would be here by now.
  await watcher.publishAsync('marker', 'm', { qos: 1 })
  await seen.waitFor(2)
  t.same(seen.messages.map((m) => m.topic), ['dev/before', 'marker'], 'nothing the expired client sent was delivered')
})
