// What a web page could make the operator's browser send to the management API: cross-origin state changes
// (a form needs no preflight) are refused with or without API keys; without keys, a Host that is not the
// loopback interface is refused (DNS rebinding).
import { request as httpRequest } from 'node:http'
import t from 'tap'
import { ADMIN, basic, startApiBroker, type ApiBroker } from './api-helpers.js'

interface Raw { status: number, json: { code?: string, message?: string } | undefined, headers: Record<string, string | string[] | undefined> }

/** A real HTTP request with headers as given (Host included), body as a string; bounded to 5 s. */
function raw (b: ApiBroker, method: string, path: string, headers: Record<string, string>, body = ''): Promise<Raw> {
  const url = new URL(b.base)
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method, path, headers: { 'content-length': String(Buffer.byteLength(body)), ...headers }, timeout: 5000 }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => {
        let json: Raw['json']
        try { json = text ? JSON.parse(text) as Raw['json'] : undefined } catch { json = undefined }
        resolve({ status: res.statusCode ?? 0, json, headers: res.headers })
      })
    })
    req.on('timeout', () => req.destroy(new Error('no answer within 5 s')))
    req.on('error', reject)
    req.end(body)
  })
}

const BAN = JSON.stringify({ as: 'clientid', who: 'victim' })
const FORM_BOUNDARY = 'culexboundary'
/** What an HTML form with a `ca` field posts. */
const FORM = `--${FORM_BOUNDARY}\r\ncontent-disposition: form-data; name="ca"\r\n\r\nnot a pem\r\n--${FORM_BOUNDARY}--\r\n`
const formHeaders = { 'content-type': `multipart/form-data; boundary=${FORM_BOUNDARY}` }

const banned = async (b: ApiBroker) => (await b.call('/api/v5/banned')).json.data.length as number

t.test('without API keys: cross-origin changes, origin-less forms and foreign Host names are refused with 403', async (t) => {
  const b = await startApiBroker(t)
  const host = new URL(b.base).host
  const json = { host, 'content-type': 'application/json' }

  const evil = await raw(b, 'POST', '/api/v5/banned', { ...json, origin: 'http://evil.example' }, BAN)
  t.equal(evil.status, 403, 'Origin of another site')
  t.match(evil.json, { code: 'FORBIDDEN', message: /Origin http:\/\/evil\.example does not match Host/ })
  const nullOrigin = await raw(b, 'POST', '/api/v5/banned', { ...json, origin: 'null' }, BAN)
  t.equal(nullOrigin.status, 403, 'Origin null (a sandboxed page or a file://)')
  const crossSite = await raw(b, 'POST', '/api/v5/banned', { ...json, 'sec-fetch-site': 'cross-site' }, BAN)
  t.equal(crossSite.status, 403, 'Sec-Fetch-Site: cross-site')
  t.match(crossSite.json?.message, /Sec-Fetch-Site: cross-site/)
  t.equal(await banned(b), 0, 'nothing was banned')

  const form = await raw(b, 'POST', '/api/v5/certs/global/name/planted', { host, ...formHeaders }, FORM)
  t.equal(form.status, 403, 'a multipart form post without Origin (an old browser\'s cross-site form)')
  t.match(form.json?.message, /multipart\/form-data request without an Origin header is refused/)
  const crossForm = await raw(b, 'POST', '/api/v5/certs/global/name/planted', { host, ...formHeaders, origin: 'https://attacker.example' }, FORM)
  t.equal(crossForm.status, 403, 'a cross-site form post')
  t.same((await b.call('/api/v5/certs/global/list')).json, [], 'no bundle was created')
  t.ok(b.logs.some((l) => /management API request refused/.test(String(l.msg)) && l.origin === 'https://attacker.example'), 'refusals are logged')

  const rebound = await raw(b, 'GET', '/api/v5/clients', { host: `attacker.example:${new URL(b.base).port}` })
  t.equal(rebound.status, 403, 'a GET for another host name (DNS rebinding) is refused')
  t.match(rebound.json?.message, /Host attacker\.example:\d+ refused: without an API key/)
  t.equal((await raw(b, 'POST', '/api/v5/banned', { ...json, host: 'attacker.example' }, BAN)).status, 403, 'a change for another host name too')

  t.equal((await raw(b, 'GET', '/api/v5/clients', { host: `localhost:${new URL(b.base).port}` })).status, 200, 'localhost is served')
  t.equal((await raw(b, 'GET', '/api/v5/clients', { host: '[::1]:1234' })).status, 200, '[::1] on another port (a port forward) is served')
  const same = await raw(b, 'POST', '/api/v5/banned', { ...json, origin: `http://${host}`, 'sec-fetch-site': 'same-origin' }, BAN)
  t.equal(same.status, 200, 'a same-origin change is served')
  const curl = await raw(b, 'DELETE', '/api/v5/banned/clientid/victim', { host })
  t.equal(curl.status, 204, 'a change without Origin that is not a form (curl, scripts) is served')
  const formSameOrigin = await raw(b, 'POST', '/api/v5/certs/global/name/mine', { host, ...formHeaders, origin: `http://${host}` }, FORM)
  t.equal(formSameOrigin.status, 400, 'a same-origin form reaches the route (which refuses the bad PEM)')
})

t.test('with API keys: cross-origin changes are refused even with valid credentials; any Host is served', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const host = new URL(b.base).host
  const auth = { authorization: basic(ADMIN), 'content-type': 'application/json' }

  const evil = await raw(b, 'POST', '/api/v5/banned', { host, ...auth, origin: 'http://evil.example' }, BAN)
  t.equal(evil.status, 403, 'a cross-origin change with the browser\'s cached credentials is refused')
  t.equal(evil.json?.code, 'FORBIDDEN')
  t.equal((await raw(b, 'PUT', '/api/v5/banned', { host, ...auth, 'sec-fetch-site': 'same-site' }, BAN)).status, 403, 'same-site is not same-origin')
  t.equal(await banned(b), 0)

  t.equal((await raw(b, 'GET', '/api/v5/clients', { host: 'broker.example.com:18083', authorization: basic(ADMIN) })).status, 200, 'keys configured: any Host name')
  const curlForm = await raw(b, 'POST', '/api/v5/certs/global/name/mine', { host, authorization: basic(ADMIN), ...formHeaders }, FORM)
  t.equal(curlForm.status, 400, 'curl -u key:secret -F (no Origin) reaches the route')
  t.equal((await raw(b, 'POST', '/api/v5/banned', { host, ...auth }, BAN)).status, 200, 'curl -u key:secret with JSON is served')
})

t.test('dashboard.cors = true (EMQX 5.8): Access-Control-Allow-Origin: * and preflights; forms stay refused', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN], config: { dashboard: { cors: true, listeners: { http: { bind: '127.0.0.1:0' } } } } })
  const host = new URL(b.base).host
  const page = { host, origin: 'https://console.example' }

  const preflight = await raw(b, 'OPTIONS', '/api/v5/banned', { ...page, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' })
  t.equal(preflight.status, 204, 'the preflight is answered without credentials')
  t.equal(preflight.headers['access-control-allow-origin'], '*')
  t.match(preflight.headers['access-control-allow-methods'], /POST/)
  t.equal(preflight.headers['access-control-allow-headers'], 'authorization, content-type')
  t.equal(preflight.headers['access-control-allow-credentials'], undefined, 'never the browser\'s own credentials')

  const read = await raw(b, 'GET', '/api/v5/clients', { ...page, authorization: basic(ADMIN) })
  t.equal(read.status, 200)
  t.equal(read.headers['access-control-allow-origin'], '*', 'a request with an Origin gets the header')
  t.equal((await raw(b, 'GET', '/api/v5/clients', { host, authorization: basic(ADMIN) })).headers['access-control-allow-origin'], undefined, 'one without, not')
  const denied = await raw(b, 'GET', '/api/v5/clients', page)
  t.equal(denied.status, 401, 'the page must still send an API key')
  t.equal(denied.headers['access-control-allow-origin'], '*', 'and can read why not')

  const json = await raw(b, 'POST', '/api/v5/banned', { ...page, 'sec-fetch-site': 'cross-site', authorization: basic(ADMIN), 'content-type': 'application/json' }, BAN)
  t.equal(json.status, 200, 'a cross-origin JSON change (preflighted) is served')
  t.equal(json.headers['access-control-allow-origin'], '*')
  t.equal((await raw(b, 'DELETE', '/api/v5/banned/clientid/victim', { ...page, authorization: basic(ADMIN) })).status, 204, 'DELETE too')

  const form = await raw(b, 'POST', '/api/v5/certs/global/name/planted', { ...page, authorization: basic(ADMIN), ...formHeaders }, FORM)
  t.equal(form.status, 403, 'a cross-origin form (no preflight: the browser may add stored credentials) is still refused')
  t.equal((await raw(b, 'POST', '/api/v5/banned', { ...page, authorization: basic(ADMIN) }, BAN)).status, 403, 'a POST without a content type needs no preflight either')
  t.equal(await banned(b), 0)
})

t.test('dashboard.cors without API keys: ignored, with a warning', async (t) => {
  const b = await startApiBroker(t, { config: { dashboard: { cors: true, listeners: { http: { bind: '127.0.0.1:0' } } } } })
  const host = new URL(b.base).host
  const read = await raw(b, 'GET', '/api/v5/clients', { host, origin: 'https://evil.example' })
  t.equal(read.status, 200)
  t.equal(read.headers['access-control-allow-origin'], undefined, 'no page elsewhere may read the unauthenticated API')
  t.equal((await raw(b, 'POST', '/api/v5/banned', { host, origin: 'https://evil.example', 'content-type': 'application/json' }, BAN)).status, 403)
  t.ok(b.logs.some((l) => l.level === 40 && /dashboard\.cors ignored/.test(String(l.msg))), 'said so at start')
})
