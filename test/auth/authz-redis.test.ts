// authorization source type = redis against redis-server: EMQX 5.8's hash (HGETALL mqtt_acl:${username},
// each field a topic filter, each value an action or JSON {action, qos, retain}; every entry allows), a
// value that cannot be read skipped and logged, and Redis down: the source is ignored (next source or
// no_match), logged and counted.
import type { MqttClient } from 'mqtt'
import t from 'tap'
import { connectOwned, startBroker, until } from '../helpers.js'
import { hasRedis, redisClient, startRedis } from '../cluster/redis-helpers.js'

function publish (c: MqttClient, topic: string, qos: 0 | 1 | 2 = 1, retain = false): Promise<number> {
  return new Promise((resolve, reject) => c.publish(topic, 'x', { qos, retain }, (err) => {
    const code = (err as { code?: number } | undefined)?.code
    if (err && code === undefined) reject(err)
    else resolve(code ?? 0)
  }))
}

function subscribe (c: MqttClient, topic: string): Promise<number> {
  return new Promise((resolve, reject) => c.subscribe(topic, { qos: 1 }, (err, granted) => {
    const suback = (err as { packet?: { granted?: number[] } } | null)?.packet?.granted
    if (suback) resolve(suback[0]!)
    else if (err) reject(err)
    else resolve(granted![0]!.qos)
  }))
}

if (!hasRedis) {
  t.plan(0, 'redis-server not installed')
} else {
  t.test('EMQX\'s hash: actions and JSON rules allow, the rest falls to no_match; Redis down is ignored', async (t) => {
    const redis = await startRedis(t)
    const r = redisClient(t, redis.port)
    await r.hset('mqtt_acl:alice', {
      'pub/#': 'publish',
      'sub/${clientid}/#': 'subscribe',
      both: 'all',
      'json/q1': JSON.stringify({ action: 'publish', qos: [1], retain: false }),
      'json/any': JSON.stringify({ action: 'all' }),
      'bad/1': 'write',
    })
    await r.hset('mqtt_acl:a b*', { 'odd/#': 'all' })
    const b = await startBroker({
      authorization: {
        no_match: 'deny',
        cache: { enable: false },
        sources: [
          { type: 'redis', redis_type: 'single', server: redis.servers, cmd: 'HGETALL mqtt_acl:${username}' },
          { type: 'file', rules: '{allow, all, publish, ["fallback/#"]}.' },
        ],
      },
    })
    t.teardown(() => b.close())
    const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'c1', username: 'alice' })
    t.equal(await publish(c, 'pub/x'), 0, 'a plain action')
    t.equal(await publish(c, 'both'), 0)
    t.equal(await subscribe(c, 'sub/c1/#'), 1, 'placeholders in the hash\'s filters expand')
    t.equal(await subscribe(c, 'pub/x'), 0x87, 'publish only')
    t.equal(await publish(c, 'json/q1', 1), 0, 'JSON with qos')
    t.equal(await publish(c, 'json/q1', 2), 0x87, 'another qos: no match, no_match denies')
    t.equal(await publish(c, 'json/q1', 1, true), 0x87, 'retain = false')
    t.equal(await publish(c, 'json/any'), 0)
    t.equal(await publish(c, 'bad/1'), 0x87, 'a value that is no action is skipped')
    await until(() => b.logs.some((l) => typeof l.msg === 'string' && l.msg.includes('a rule from the backend is skipped')), 'the log line')
    t.equal(await publish(c, 'fallback/1'), 0, 'what the hash does not cover falls to the next source')

    const odd = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'c2', username: 'a b*' })
    t.equal(await publish(odd, 'odd/1'), 0, 'a user name with a space and * is one argument of the command')
    const none = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'c3', username: 'nobody' })
    t.equal(await publish(none, 'pub/x'), 0x87, 'no hash: no_match')

    // The test's own client goes first: it would report the server gone.
    r.disconnect()
    await redis.stop()
    t.equal(await publish(c, 'fallback/2'), 0, 'Redis down: ignored, the file decides')
    t.equal(await publish(c, 'pub/x'), 0x87, 'and no_match')
    t.ok(b.logs.some((l) => l.msg === 'backend request failed: ' + String(l.reason) && String(l.reason).includes('redis')), 'the backend logs why')
    t.ok((b.broker.authz.counts.get('redis')?.error ?? 0) >= 2, 'counted as errors')
  })
}
