// Secrets in /api/v5/authentication answers: EMQX's sensitive fields and headers are "******" for every
// role; a viewer key sees every JWKS header value and credential-like field masked. "******" sent back
// in a PUT keeps the stored value (checked by what the JWKS endpoint receives).
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { ADMIN, startApiBroker, until } from './api-helpers.js'

const VIEWER = 'viewer-key:viewer-secret'
const BEARER = 'Bearer jwks-token-7f3a9c'
const TENANT = 'tenant-secret-51d0e2'

/** A JWKS endpoint on 127.0.0.1 recording the headers of each fetch. */
async function jwksServer (t: { teardown: (fn: () => unknown) => void }): Promise<{ url: string, seen: Record<string, string | string[] | undefined>[] }> {
  const seen: Record<string, string | string[] | undefined>[] = []
  const server = createServer((req, res) => {
    seen.push(req.headers)
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}')
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/jwks`, seen }
}

t.test('JWKS headers and secrets are masked; a viewer sees no header value; "******" in a PUT keeps the value', async (t) => {
  const jwks = await jwksServer(t)
  const b = await startApiBroker(t, { keys: [ADMIN, `${VIEWER}:viewer`] })
  const config = {
    mechanism: 'jwt',
    use_jwks: true,
    endpoint: jwks.url,
    headers: { Accept: 'application/json', Authorization: BEARER, 'X-Tenant-Secret': TENANT },
  }
  const added = await b.call('/api/v5/authentication', { method: 'POST', json: config })
  t.equal(added.status, 200, added.text)
  await until(() => jwks.seen.length > 0, 'the first JWKS fetch')
  t.equal(jwks.seen[0]!.authorization, BEARER, 'the endpoint got the configured Authorization header')

  const viewer = await b.call('/api/v5/authentication/jwt', { auth: VIEWER })
  t.equal(viewer.status, 200)
  t.notMatch(viewer.text, BEARER.split(' ')[1]!, 'a viewer never reads the bearer token')
  t.notMatch(viewer.text, TENANT, 'nor a custom credential header')
  t.same(viewer.json.headers, { Accept: '******', Authorization: '******', 'X-Tenant-Secret': '******' }, 'every header value is masked for a viewer')
  const viewerList = await b.call('/api/v5/authentication', { auth: VIEWER })
  t.notMatch(viewerList.text, /jwks-token|tenant-secret/, 'the list too')

  const admin = await b.call('/api/v5/authentication/jwt')
  t.equal(admin.json.headers.Authorization, '******', 'Authorization is masked for administrators too (as EMQX does)')
  t.equal(admin.json.headers.Accept, 'application/json', 'an administrator reads the other headers')
  t.notMatch(admin.text, /jwks-token/)

  // An administrator sends the GET body back with one change: the masked Authorization must be kept.
  const { id: _id, ...body } = admin.json as Record<string, unknown>
  const before = jwks.seen.length
  const replaced = await b.call('/api/v5/authentication/jwt', { method: 'PUT', json: { ...body, refresh_interval: 600 } })
  t.equal(replaced.status, 200, replaced.text)
  await until(() => jwks.seen.length > before, 'the replaced authenticator\'s JWKS fetch')
  t.equal(jwks.seen.at(-1)!.authorization, BEARER, '"******" kept the stored Authorization header')
})

t.test('a viewer sees secrets, passwords and tokens of every authenticator masked', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN, `${VIEWER}:viewer`] })
  t.equal((await b.call('/api/v5/authentication', { method: 'POST', json: { mechanism: 'jwt', algorithm: 'hmac-based', secret: 'hmac-s3cret-x' } })).status, 200)
  const shown = await b.call('/api/v5/authentication', { auth: VIEWER })
  t.equal(shown.status, 200)
  t.notMatch(shown.text, /hmac-s3cret-x/, 'the HMAC secret is masked')
  t.match(shown.json, [{ id: 'jwt', secret: '******', secret_base64_encoded: false }], 'flags stay readable')
})
