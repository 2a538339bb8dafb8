// mechanism = password_based, backend = redis against a real redis-server: EMQX's documented example
// (HMGET mqtt_user:${username} password_hash salt is_superuser, sha256 with the salt after the password),
// the outcomes, and Redis down at start and mid-run (ignore → the chain's answer, logged once per cause).
import { createHash } from 'node:crypto'
import t from 'tap'
import { freePort, startBroker } from '../helpers.js'
import { hasRedis, redisClient, startRedis } from '../cluster/redis-helpers.js'
import { connack } from './authn-helpers.js'

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const REDIS = (server: string) => ({
  mechanism: 'password_based',
  backend: 'redis',
  redis_type: 'single',
  server,
  cmd: 'HMGET mqtt_user:${username} password_hash salt is_superuser',
  password_hash_algorithm: { name: 'sha256', salt_position: 'suffix' },
})

t.test('EMQX\'s example user, the outcomes, and Redis going away and coming back', { skip: !hasRedis && 'redis-server is not installed' }, async (t) => {
  const redis = await startRedis(t)
  const plain = redisClient(t, redis.port)
  await plain.hset('mqtt_user:emqx_u', { password_hash: sha256('public' + 'slat_foo123'), salt: 'slat_foo123', is_superuser: 1 })
  await plain.hset('mqtt_user:nohash', { salt: 'x' })
  const b = await startBroker({
    authentication: [REDIS(redis.servers)],
    authorization: { no_match: 'deny', sources: [] },
  })
  t.teardown(() => b.close())
  const port = b.tcpPort
  t.equal(await connack(port, { username: 'emqx_u', password: 'public' }), 0, 'the right password')
  t.equal(await connack(port, { username: 'emqx_u', password: 'wrong' }), 0x86, 'a wrong one: bad user name or password')
  t.equal(await connack(port, { username: 'emqx_u' }), 0x86, 'none')
  t.equal(await connack(port, { username: 'nobody', password: 'x' }), 0x87, 'no such user: ignored, and the chain refuses')
  t.equal(await connack(port, { username: 'nohash', password: 'x' }), 0x87, 'a record without password_hash: not authorized')
  t.equal(await connack(port, { username: 'emqx_u password_hash', password: 'public' }), 0x87, 'a user name with a space is one key, not more fields')

  await redis.stop()
  t.equal(await connack(port, { username: 'emqx_u', password: 'public' }), 0x87, 'Redis down: ignored, and the chain refuses')
  t.equal(await connack(port, { username: 'emqx_u', password: 'public' }), 0x87)
  t.match(b.logs.filter((l) => l.msg === 'authentication refused').at(-1), { detail: /password_based:redis: .*redis 127\.0\.0\.1:\d+/ })
  t.ok(b.logs.filter((l) => l.backend === 'password_based:redis' && l.level === 40).length <= 2, 'a warning when it went, not one per client')
})

t.test('Redis down at start: the broker starts, the next authenticator decides', { skip: !hasRedis && 'redis-server is not installed' }, async (t) => {
  const closed = await freePort()
  const b = await startBroker({ authentication: [REDIS(`127.0.0.1:${closed}`), { mechanism: 'cert' }] })
  t.teardown(() => b.close())
  t.equal(await connack(b.tcpPort, { username: 'emqx_u', password: 'public' }), 0x87, 'ignored by Redis, then by cert: refused')
  t.match(b.logs.find((l) => l.msg === 'authentication refused'), { detail: /password_based:redis: .*127\.0\.0\.1:\d+.*; cert: no client certificate/ })
})

t.test('bad cmd stops start-up with the key', async (t) => {
  await t.rejects(startBroker({ authentication: [{ ...REDIS('127.0.0.1:1'), cmd: 'GET mqtt_user:${username}' }] }), /authentication\.0\.cmd.*HGET or HMGET/)
  await t.rejects(startBroker({ authentication: [{ ...REDIS('127.0.0.1:1'), redis_type: undefined }] }), /redis_type/)
})
