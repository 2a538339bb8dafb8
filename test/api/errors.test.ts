// The management API answers its errors with the HTTP status and EMQX code of src/errors.ts's table, in
// EMQX's { code, message } body: the table is what the wire says.
import t from 'tap'
import { ERRORS, type HttpErrorCode } from '../../src/errors.js'
import { ADMIN, startApiBroker } from './api-helpers.js'

t.test('each answer has the status and code of its CULEX_ERR_API_* entry', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN, 'reader:reader-secret:viewer'] })
  const cases: [HttpErrorCode, Parameters<typeof b.call>][] = [
    ['CULEX_ERR_API_NO_CREDENTIALS', ['/api/v5/clients', { auth: '' }]],
    ['CULEX_ERR_API_BAD_CREDENTIALS', ['/api/v5/clients', { auth: 'admin-key:wrong' }]],
    ['CULEX_ERR_API_ROLE', ['/api/v5/banned', { auth: 'reader:reader-secret', method: 'POST', json: { as: 'clientid', who: 'x' } }]],
    ['CULEX_ERR_API_ORIGIN', ['/api/v5/banned', { method: 'POST', json: { as: 'clientid', who: 'x' }, headers: { origin: 'http://attacker.example' } }]],
    ['CULEX_ERR_API_NOT_FOUND', ['/api/v5/no-such-thing']],
    ['CULEX_ERR_API_CLIENT_NOT_FOUND', ['/api/v5/clients/nobody']],
    ['CULEX_ERR_API_LISTENER_NOT_FOUND', ['/api/v5/listeners/tcp:nothing']],
    ['CULEX_ERR_API_BAD_REQUEST', ['/api/v5/banned', { method: 'POST', json: { as: 'nothing', who: 'x' } }]],
    ['CULEX_ERR_API_MEDIA_TYPE', ['/api/v5/banned', { method: 'POST', body: 'x', headers: { 'content-type': 'application/x-unknown' } }]],
    ['CULEX_ERR_API_TOO_LARGE', ['/api/v5/banned', { method: 'POST', body: JSON.stringify({ as: 'clientid', who: 'x'.repeat(3 * 1024 * 1024) }), headers: { 'content-type': 'application/json' } }]],
  ]
  for (const [code, args] of cases) {
    const reply = await b.call(...args)
    const { status, code: emqx } = ERRORS[code].http
    t.equal(reply.status, status, `${code}: ${status}`)
    t.equal(reply.json.code, emqx, `${code}: ${emqx}`)
    t.type(reply.json.message, 'string')
  }
  const ban = { as: 'clientid', who: 'twice' }
  t.equal((await b.call('/api/v5/banned', { method: 'POST', json: ban })).status, 200)
  const again = await b.call('/api/v5/banned', { method: 'POST', json: ban })
  t.same([again.status, again.json.code], [ERRORS.CULEX_ERR_API_ALREADY_BANNED.http.status, ERRORS.CULEX_ERR_API_ALREADY_BANNED.http.code], 'a second ban: 400 ALREADY_EXISTS, as EMQX')
})
