// JWT parity with EMQX 5.8: verify_claims as a list of { name, value }, an aud claim holding a list, and
// from = username.
import { SignJWT } from 'jose'
import t from 'tap'
import { startBroker } from '../helpers.js'
import { connack } from './authn-helpers.js'

const SECRET = 'emqxsecret'
const token = (claims: Record<string, unknown>) => new SignJWT({ exp: Math.floor(Date.now() / 1000) + 60, ...claims }).setProtectedHeader({ alg: 'HS256' }).sign(Buffer.from(SECRET))

t.test('list-form verify_claims and an aud list', async (t) => {
  const b = await startBroker({ authentication: [{ mechanism: 'jwt', secret: SECRET, verify_claims: [{ name: 'aud', value: 'mqtt' }, { name: 'sub', value: '${clientid}' }] }] })
  t.teardown(() => b.close())
  t.equal(await connack(b.tcpPort, { clientId: 'c1', username: 'u', password: await token({ aud: ['web', 'mqtt'], sub: 'c1' }) }), 0, 'aud as a list holding mqtt')
  t.equal(await connack(b.tcpPort, { clientId: 'c1', username: 'u', password: await token({ aud: 'mqtt', sub: 'c1' }) }), 0, 'aud as a string')
  t.equal(await connack(b.tcpPort, { clientId: 'c1', username: 'u', password: await token({ aud: ['web', 'api'], sub: 'c1' }) }), 0x86, 'a list without it')
  t.equal(await connack(b.tcpPort, { clientId: 'c1', username: 'u', password: await token({ aud: [['mqtt']], sub: 'c1' }) }), 0x86, 'a nested list is not a match')
  t.equal(await connack(b.tcpPort, { clientId: 'c2', username: 'u', password: await token({ aud: 'mqtt', sub: 'c1' }) }), 0x86, 'sub must be the client id')
  t.equal(await connack(b.tcpPort, { clientId: 'c1', username: 'u', password: await token({ sub: 'c1' }) }), 0x86, 'a missing claim')
})

t.test('from = username', async (t) => {
  const b = await startBroker({ authentication: [{ mechanism: 'jwt', secret: SECRET, from: 'username' }], mqtt: { session_owner_check: false } })
  t.teardown(() => b.close())
  t.equal(await connack(b.tcpPort, { username: await token({}), password: 'ignored' }), 0)
  t.equal(await connack(b.tcpPort, { username: 'not-a-token', password: await token({}) }), 0x87, 'the password is not looked at')
})

t.test('verify_claims cannot name exp, iat or nbf', async (t) => {
  await t.rejects(startBroker({ authentication: [{ mechanism: 'jwt', secret: SECRET, verify_claims: [{ name: 'exp', value: '1' }] }] }), /verify_claims cannot name exp/)
})
