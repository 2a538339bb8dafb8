// mqtt.client_attrs_init and mqtt.clientid_override end to end: attributes from the client id, the user
// name and MQTT 5 User Properties, used by acl.conf rules (${client_attrs.NAME}) and sent to an HTTP
// authentication service; a bad expression stops start-up with its key.
import t from 'tap'
import { collect, connectOwned, startBroker } from '../helpers.js'
import { authService, connack } from './authn-helpers.js'

t.test('attributes in ACL rules and HTTP bodies; the override replaces the client id', async (t) => {
  const auth = await authService(t)
  const b = await startBroker({
    mqtt: {
      client_attrs_init: [
        { expression: 'nth(1, tokens(clientid, \'-\'))', set_as_attr: 'tenant' },
        { expression: 'user_property.region', set_as_attr: 'region' },
        { expression: 'upper(username)', set_as_attr: 'who' },
      ],
      clientid_override: 'concat([client_attrs.tenant, \'/\', username])',
    },
    authentication: [{ mechanism: 'password_based', backend: 'http', method: 'post', url: `${auth.url}/auth`, body: { tenant: '${client_attrs.tenant}', region: '${client_attrs.region}', clientid: '${clientid}' } }],
    authorization: { no_match: 'deny', sources: [{ type: 'file', rules: '{allow, all, all, ["${client_attrs.tenant}/${client_attrs.region}/#"]}.' }] },
  })
  t.teardown(() => b.close())
  const c = await connectOwned(t, b.tcpPort, { clientId: 'acme-dev1', username: 'bob', protocolVersion: 5, properties: { userProperties: { region: 'eu' } } })
  t.same(JSON.parse(auth.seen.at(-1)!.body), { tenant: 'acme', region: 'eu', clientid: 'acme/bob' }, 'the HTTP service gets the attributes and the overridden id')
  const got = collect(c)
  await c.subscribeAsync('acme/eu/#', { qos: 1 })
  await c.publishAsync('acme/eu/x', 'hi', { qos: 1 })
  t.equal((await got.waitFor(1))[0]!.topic, 'acme/eu/x', 'the ACL rule built from the attributes allows the tenant\'s region')
  const other = await c.subscribeAsync('other/eu/#').catch((err: { packet?: { granted?: number[] } }) => err.packet?.granted)
  t.same(Array.isArray(other) ? other.map((g) => (typeof g === 'number' ? g : g.qos)) : other, [0x87], 'and nothing else')

  // No region property: that attribute is not set, the rule (with an empty placeholder) matches nothing.
  const d = await connectOwned(t, b.tcpPort, { clientId: 'acme-dev2', username: 'carol', protocolVersion: 5 })
  t.same(JSON.parse(auth.seen.at(-1)!.body), { tenant: 'acme', region: '', clientid: 'acme/carol' })
  const denied = await d.subscribeAsync('acme/eu/#').catch((err: { packet?: { granted?: number[] } }) => err.packet?.granted)
  t.same(Array.isArray(denied) ? denied.map((g) => (typeof g === 'number' ? g : g.qos)) : denied, [0x87])

  // HTTP's client_attrs join and win on the same name.
  auth.answer = { status: 200, type: 'application/json', body: JSON.stringify({ result: 'allow', client_attrs: { region: 'us' } }) }
  const e = await connectOwned(t, b.tcpPort, { clientId: 'acme-dev3', username: 'dave', protocolVersion: 5, properties: { userProperties: { region: 'eu' } } })
  const gotE = collect(e)
  await e.subscribeAsync('acme/us/#', { qos: 1 })
  await e.publishAsync('acme/us/x', 'hi', { qos: 1 })
  t.equal((await gotE.waitFor(1))[0]!.topic, 'acme/us/x', 'the authenticator\'s region replaced the one from the user property')
})

t.test('a malformed expression stops start-up naming its key', async (t) => {
  await t.rejects(startBroker({ mqtt: { client_attrs_init: [{ expression: 'nth(1, tokens(clientid)', set_as_attr: 'a' }] } }), /mqtt\.client_attrs_init\.0\.expression/)
  await t.rejects(startBroker({ mqtt: { client_attrs_init: [{ expression: 'clientid', set_as_attr: 'bad name' }] } }), /set_as_attr/)
  await t.rejects(startBroker({ mqtt: { clientid_override: 'eval(clientid)' } }), /clientid_override.*unknown function eval/)
})

t.test('an override with a control character is refused', async (t) => {
  const b = await startBroker({ mqtt: { clientid_override: 'concat(user_property.p, clientid)' } })
  t.teardown(() => b.close())
  t.equal(await connack(b.tcpPort, { clientId: 'x', properties: { userProperties: { p: 'a\nb' } } }), 0x85, 'client identifier not valid')
  t.equal(await connack(b.tcpPort, { clientId: 'x' }), 0, 'without the property: unbound, the client\'s own id is kept')
})
