// Placeholder injection (issue 15, item 2): an identity holding + or # must not widen an ACL rule that
// expands it (the expanded value is literal text, so such a rule matches nothing for that client); a
// listener mountpoint refuses, at CONNECT, an identity that is not one plain topic level; JWT
// verify_claims expands each placeholder once.
import type { IClientSubscribeOptions, MqttClient } from 'mqtt'
import { SignJWT } from 'jose'
import t, { type Test } from 'tap'
import { Authorizer, type AuthzRequest, type CachedDecision } from '../../src/auth/authz.js'
import { loadConfig } from '../../src/config/load.js'
import type { ClientInfo } from '../../src/mqtt/hooks.js'
import type { PeerCertificate } from '../../src/mqtt/tls-info.js'
import { collect, connectOwned, memoryLog, ping, rawConnect, startBroker, type TestBroker } from '../helpers.js'

/** The decision of sources that answer at once (every source here does). */
function decide (authz: Authorizer, client: ClientInfo, request: AuthzRequest): CachedDecision {
  const decision = authz.authorize(client, request)
  if (decision instanceof Promise) throw new Error('a synchronous decision was expected')
  return decision
}

const RULES = [
  '{allow, all, all, ["devices/${clientid}/#", "users/${username}/#", {eq, "eq/${clientid}"}]}.',
  '{deny, all}.',
].join('\n')

async function broker (t: Test, config: Record<string, unknown> = {}): Promise<TestBroker> {
  const b = await startBroker({ authorization: { no_match: 'deny', sources: [{ type: 'file', rules: RULES }] }, ...config })
  t.teardown(() => b.close())
  return b
}

const client = connectOwned

/** The SUBACK codes; MQTT.js reports a refused filter as an error carrying the SUBACK. */
function subscribe (c: MqttClient, topic: string): Promise<number[]> {
  return new Promise((resolve, reject) => c.subscribe(topic, { qos: 1 } as IClientSubscribeOptions, (err, granted) => {
    const suback = (err as { packet?: { granted?: number[] } } | null)?.packet?.granted
    if (suback) resolve(suback)
    else if (err) reject(err)
    else resolve(granted!.map((g) => g.qos))
  }))
}

function publish (c: MqttClient, topic: string, payload: string, retain = false): Promise<Error | undefined> {
  return new Promise((resolve) => c.publish(topic, payload, { qos: 1, retain }, (err) => resolve(err ?? undefined)))
}

for (const id of ['+', '#']) {
  t.test(`client id ${id}: devices/\${clientid}/# neither reads nor writes device a`, async (t) => {
    const b = await broker(t)
    const device = await client(t, b.tcpPort, { protocolVersion: 5, clientId: 'a' })
    const deviceInbox = collect(device)
    t.same(await subscribe(device, 'devices/a/#'), [1], 'the rule still works for a plain client id')
    t.equal(await publish(device, 'devices/a/state', 'retained', true), undefined)

    const attacker = await client(t, b.tcpPort, { protocolVersion: 5, clientId: id })
    const stolen = collect(attacker)
    t.same(await subscribe(attacker, 'devices/+/#'), [0x87], 'devices/+/# is refused')
    t.same(await subscribe(attacker, 'devices/#'), [0x87], 'devices/# is refused')
    t.same(await subscribe(attacker, 'eq/+'), [0x87], '{eq, "eq/${clientid}"} does not equal the filter eq/+')
    t.match(await publish(attacker, 'devices/a/cmd', 'forged'), { code: 0x87 }, 'publishing into device a is refused')

    t.equal(await publish(device, 'devices/a/state', 'live'), undefined)
    const got = await deviceInbox.waitFor(2)
    t.same(got.map((m) => m.payload.toString()), ['retained', 'live'], 'device a got its own messages and not the forged one')
    // Its SUBSCRIBEs were answered, and 'live' routed, before this round trip: anything sent to it is here by then.
    await ping(attacker)
    t.same(stolen.messages.map((m) => m.topic), [], 'the attacker received nothing, retained or live')
  })
}

t.test('user name +: users/${username}/# does not reach alice', async (t) => {
  const b = await broker(t)
  const alice = await client(t, b.tcpPort, { protocolVersion: 4, clientId: 'alice-c', username: 'alice' })
  const aliceInbox = collect(alice)
  t.same(await subscribe(alice, 'users/alice/#'), [1])
  t.equal(await publish(alice, 'users/alice/inbox', 'retained', true), undefined)
  const attacker = await client(t, b.tcpPort, { protocolVersion: 4, clientId: 'mallory', username: '+' })
  const stolen = collect(attacker)
  t.same(await subscribe(attacker, 'users/+/#'), [0x80], 'MQTT 3.1.1: SUBACK 0x80')
  t.equal(await publish(attacker, 'users/alice/inbox', 'forged'), undefined, 'MQTT 3.1.1: acknowledged and dropped')
  t.equal(await publish(alice, 'users/alice/inbox', 'live'), undefined)
  const got = await aliceInbox.waitFor(2)
  // The forged PUBLISH was acknowledged, so routed, before 'live': round trips bring anything else sent to either.
  await ping(alice)
  await ping(attacker)
  t.same(got.map((m) => m.payload.toString()), ['retained', 'live'], 'alice did not get the forged message')
  t.same(stolen.messages, [], 'the attacker received nothing')
})

t.test('evaluation: ${cert_common_name}, ${username}, ${clientid} with wildcard characters match nothing', async (t) => {
  const { config } = loadConfig({ config: { authorization: { sources: [{ type: 'file', rules: '{allow, all, all, ["cn/${cert_common_name}/#", "t/${clientid}/x"]}.\n{deny, all}.' }] } }, env: {} })
  const authz = new Authorizer(config.authorization, memoryLog().log)
  const who = (over: Partial<ClientInfo>): ClientInfo => ({
    clientId: 'c1', username: undefined, protocolVersion: 5, listener: 'tcp:default', remoteAddress: '127.0.0.1', remotePort: 1,
    connectedAt: 0, isSuperuser: false, attrs: {}, tls: undefined, cert: undefined, ...over,
  })
  const sub = (topic: string): AuthzRequest => ({ action: 'subscribe', topic, qos: 0, retain: false })
  const cert = (cn: string) => ({ cn, subject: `CN=${cn}` }) as PeerCertificate
  t.equal(decide(authz, who({ cert: cert('dev1') }), sub('cn/dev1/#')).permission, 'allow')
  t.equal(decide(authz, who({ cert: cert('+') }), sub('cn/+/#')).permission, 'deny', 'certificate CN +')
  t.equal(decide(authz, who({ cert: cert('#') }), sub('cn/#')).permission, 'deny', 'certificate CN #')
  t.equal(decide(authz, who({ clientId: 'a+b' }), sub('t/+/x')).permission, 'deny', 'a + inside the value')
  t.equal(decide(authz, who({ clientId: 'a/b' }), sub('t/a/b/x')).permission, 'allow', 'a / is literal text and stays where the rule put it')
})

t.test('mountpoint ${clientid}: an id that is not one plain level is refused at CONNECT', async (t) => {
  const b = await startBroker({
    listeners: {
      tcp: { default: { bind: '127.0.0.1:0', mountpoint: 'tenants/${clientid}/' }, user: { bind: '127.0.0.1:0', mountpoint: 'tenants/${username}/' } },
    },
  })
  t.teardown(() => b.close())
  const seen = new Map<string, ClientInfo>()
  b.broker.addHook('clientConnected', (c) => { seen.set(c.clientId, c) })
  const code = async (port: number, v: 4 | 5, clientId: string, username?: string) => {
    const { raw, connack } = await rawConnect(port, v, { clientId, ...(username === undefined ? {} : { username }) })
    t.teardown(() => { raw.socket.destroy() })
    return v === 5 ? connack.reasonCode : connack.returnCode
  }
  for (const id of ['+', '#', 'a/b', 'x+']) {
    t.equal(await code(b.tcpPort, 5, id), 0x85, `client id ${JSON.stringify(id)}: 0x85`)
    t.equal(await code(b.tcpPort, 4, id), 2, `client id ${JSON.stringify(id)}, MQTT 3.1.1: 2 identifier rejected`)
  }
  t.equal(await code(b.tcpPort, 5, 'ok'), 0, 'a plain client id connects')
  t.equal(await code(b.tcpPort, 5, '${username}', 'bob'), 0)
  t.equal(seen.get('${username}')?.mountpoint, 'tenants/${username}/', 'the client id is not expanded a second time')

  const user = b.broker.port('tcp', 'user')
  t.equal(await code(user, 5, 'u1', '#'), 0x86, 'user name #: 0x86')
  t.equal(await code(user, 4, 'u2', '+'), 4, 'user name +, MQTT 3.1.1: 4')
  t.equal(await code(user, 5, 'u3', ''), 0x86, 'an empty user name')
  t.equal(await code(user, 5, 'u4'), 0x86, 'no user name')
  t.equal(await code(user, 5, 'u5', 'carol'), 0)
  t.equal(seen.get('u5')?.mountpoint, 'tenants/carol/')
  t.ok(b.logs.some((l) => l.msg === 'refused CONNECT: the listener mountpoint uses ${clientid} and the client identifier is empty or contains +, # or /'), 'the reason is logged')
})

t.test('verify_claims: a client id holding ${username} is not expanded again', async (t) => {
  const b = await startBroker({ authentication: [{ mechanism: 'jwt', secret: 'emqxsecret', verify_claims: { sub: '${clientid}' } }] })
  t.teardown(() => b.close())
  const token = await new SignJWT({ sub: 'bob' }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from('emqxsecret'))
  const code = async (clientId: string) => {
    const { raw, connack } = await rawConnect(b.tcpPort, 5, { clientId, username: 'bob', password: Buffer.from(token) })
    t.teardown(() => { raw.socket.destroy() })
    return connack.reasonCode
  }
  t.equal(await code('bob'), 0, 'sub = client id')
  t.equal(await code('${username}'), 0x86, 'the text ${username} is not the user name bob')
})
