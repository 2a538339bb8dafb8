// Malformed JWTs (seed 004's rules) through a real MQTT CONNECT to a broker with a jwt authenticator:
// each is refused in the CONNACK (MQTT 5 and 3.1.1) with one "authentication refused" log line that
// gives a reason, nothing is logged at error level, and the broker goes on serving good tokens.
// test/auth/jwt.test.ts covers the well-formed tokens that fail (bad signature, algorithm confusion,
// expired, claims); these are the ones that are not even well-formed.
import { createHmac } from 'node:crypto'
import t from 'tap'
import { SignJWT, base64url } from 'jose'
import { rawConnect, startBroker } from '../helpers.js'

const SECRET = 'emqxsecret'
const now = () => Math.floor(Date.now() / 1000)
const b64 = (value: unknown) => base64url.encode(typeof value === 'string' ? value : JSON.stringify(value))

/** An HS256 token over any header and payload text, correctly signed. */
function signRaw (header: string, payload: string): string {
  const input = `${base64url.encode(header)}.${base64url.encode(payload)}`
  return `${input}.${base64url.encode(createHmac('sha256', SECRET).update(input).digest())}`
}
const hmac = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(Buffer.from(SECRET))

const good = await hmac({ exp: now() + 600 })
const [goodHeader, goodPayload, goodSignature] = good.split('.') as [string, string, string]
const HS256 = JSON.stringify({ alg: 'HS256', typ: 'JWT' })

// [name, token, v5 reason code, v3 return code, reason logged]
const NOT_AUTHORIZED: [number, number, RegExp] = [0x87, 5, /no authenticator accepted the client/]
const BAD_CREDENTIALS: [number, number, RegExp] = [0x86, 4, /token (expired|not yet valid|issued in the future)/]
const ROWS: [string, string, ...typeof NOT_AUTHORIZED][] = [
  ['one segment', 'notajwt', ...NOT_AUTHORIZED],
  ['two segments', `${goodHeader}.${goodPayload}`, ...NOT_AUTHORIZED],
  ['four segments', `${good}.${goodSignature}`, ...NOT_AUTHORIZED],
  ['only dots', '..', ...NOT_AUTHORIZED],
  ['header not base64url', `!!!.${goodPayload}.${goodSignature}`, ...NOT_AUTHORIZED],
  ['signature not base64url', `${goodHeader}.${goodPayload}.+/+/==`, ...NOT_AUTHORIZED],
  ['header base64url of text, not JSON', `${b64('not json')}.${goodPayload}.${goodSignature}`, ...NOT_AUTHORIZED],
  ['header a JSON array', `${b64([1, 2])}.${goodPayload}.${goodSignature}`, ...NOT_AUTHORIZED],
  ['alg none, empty signature', `${b64({ alg: 'none', typ: 'JWT' })}.${goodPayload}.`, ...NOT_AUTHORIZED],
  ['alg none with the good signature', `${b64({ alg: 'none' })}.${goodPayload}.${goodSignature}`, ...NOT_AUTHORIZED],
  ['alg as a number', `${b64({ alg: 256 })}.${goodPayload}.${goodSignature}`, ...NOT_AUTHORIZED],
  ['alg HS256 with an unknown crit header', signRaw(JSON.stringify({ alg: 'HS256', crit: ['x-culex'], 'x-culex': 1 }), JSON.stringify({ exp: now() + 600 })), ...NOT_AUTHORIZED],
  ['huge header (60 KB), signature of another token', `${b64({ alg: 'HS256', pad: 'x'.repeat(45_000) })}.${goodPayload}.${goodSignature}`, ...NOT_AUTHORIZED],
  ['huge header of nested arrays', `${b64(`{"alg":"HS256","x":${'['.repeat(20_000)}${']'.repeat(20_000)}}`)}.${goodPayload}.${goodSignature}`, ...NOT_AUTHORIZED],
  ['signed payload that is not JSON', signRaw(HS256, 'not json {'), ...NOT_AUTHORIZED],
  ['signed payload that is a JSON array', signRaw(HS256, '[1, 2, 3]'), ...NOT_AUTHORIZED],
  ['signed payload that is JSON null', signRaw(HS256, 'null'), ...NOT_AUTHORIZED],
  ['signed payload of invalid UTF-8', signRaw(HS256, '\uD800'), ...NOT_AUTHORIZED],
  ['good token with a truncated signature', good.slice(0, -5), ...NOT_AUTHORIZED],
  ['exp as a string', signRaw(HS256, JSON.stringify({ exp: String(now() + 600) })), ...BAD_CREDENTIALS],
  ['exp as an object', signRaw(HS256, JSON.stringify({ exp: { $gt: 0 } })), ...BAD_CREDENTIALS],
  ['nbf as a string', signRaw(HS256, JSON.stringify({ exp: now() + 600, nbf: '0' })), ...BAD_CREDENTIALS],
  ['iat as null', signRaw(HS256, JSON.stringify({ exp: now() + 600, iat: null })), ...BAD_CREDENTIALS],
]

const b = await startBroker({ authentication: [{ mechanism: 'jwt', secret: SECRET }] })
t.teardown(() => b.close())

/** CONNECT with the token as password; the CONNACK code, whether the broker then closed, and its log line. */
async function connectWith (token: string, v: 4 | 5, clientId: string) {
  const { raw, connack } = await rawConnect(b.tcpPort, v, { clientId, username: 'u', password: Buffer.from(token) })
  const code = v === 5 ? connack.reasonCode : connack.returnCode
  const closed = code === 0 || await Promise.race([raw.closed.then(() => true), new Promise<false>((resolve) => setTimeout(() => resolve(false), 2000))])
  raw.socket.destroy()
  return { code, closed, log: b.logs.find((l) => l.msg === 'authentication refused' && l.clientid === clientId) }
}

t.test('the good token connects (control)', async (t) => {
  t.equal((await connectWith(good, 5, 'good-5')).code, 0)
  t.equal((await connectWith(good, 4, 'good-4')).code, 0)
})

ROWS.forEach(([name, token, v5Code, v3Code, reason], i) => {
  t.test(name, async (t) => {
    for (const v of [5, 4] as const) {
      const result = await connectWith(token, v, `bad-${i}-v${v}`)
      t.equal(result.code, v === 5 ? v5Code : v3Code, `MQTT ${v === 5 ? '5' : '3.1.1'}: CONNACK refuses`)
      t.ok(result.closed, `MQTT ${v === 5 ? '5' : '3.1.1'}: the connection is closed`)
      t.match(result.log, { listener: 'tcp:default', reason }, `MQTT ${v === 5 ? '5' : '3.1.1'}: one log line with the reason`)
    }
  })
})

t.test('after every malformed token: no error logged, no token logged, good tokens still connect', async (t) => {
  t.same(b.logs.filter((l) => (l.level as number) >= 50).map((l) => l.msg), [], 'nothing at error level')
  const text = JSON.stringify(b.logs)
  t.notOk(text.includes(goodSignature), 'no token signature in the log')
  t.notOk(text.includes(SECRET), 'not the secret either')
  t.equal((await connectWith(await hmac({ exp: now() + 600 }), 5, 'good-after')).code, 0)
})
