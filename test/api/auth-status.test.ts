// GET /api/v5/authorization/sources/{type}/status and /api/v5/authentication/{id}/status: EMQX's counts and
// its rates per second (rate, rate_max, rate_last5m, sampled every 10 s as EMQX samples them) after real
// PUBLISH and CONNECT packets; an authenticator whose backend fails reads disconnected.
import t from 'tap'
import { connack } from '../auth/authn-helpers.js'
import { connectOwned, freePort, pubackCode } from '../helpers.js'
import { ADMIN, startApiBroker, until } from './api-helpers.js'

const PASSWORD_ID = 'password_based:built_in_database'

/** Up to two sampling intervals: the first sample after the requests may be almost a full interval away. */
const SAMPLED_WITHIN_MS = 25_000

t.test('an authorization source\'s rates after N decisions', async (t) => {
  const b = await startApiBroker(t, { config: { authorization: { no_match: 'deny', cache: { enable: false }, sources: [{ type: 'file', rules: '{allow, all, publish, ["a/#"]}.' }] } } })
  const status = async () => (await b.call('/api/v5/authorization/sources/file/status')).json
  t.match((await status()).metrics, { total: 0, rate: 0, rate_max: 0, rate_last5m: 0 }, 'nothing asked yet')

  const c = await connectOwned(t, b.tcpPort, { protocolVersion: 5, clientId: 'r1' })
  const N = 20
  for (let i = 0; i < N; i++) t.equal(await pubackCode(c, i % 4 === 0 ? 'b/1' : 'a/1'), i % 4 === 0 ? 0x87 : 0)
  const seen = await until(async () => { const s = await status(); return s.metrics.rate > 0 ? s : undefined }, 'a sample after the decisions', SAMPLED_WITHIN_MS)
  t.match(seen.metrics, { total: N, allow: 15, nomatch: 5, deny: 0 })
  t.ok(seen.metrics.rate > 0 && seen.metrics.rate <= N / 10, `rate ${seen.metrics.rate}/s: the decisions of the last 10 s`)
  t.ok(seen.metrics.rate_max >= seen.metrics.rate, `rate_max ${seen.metrics.rate_max}/s`)
  t.ok(seen.metrics.rate_last5m > 0, `rate_last5m ${seen.metrics.rate_last5m}/s`)
  t.same(seen.node_metrics, [{ node: b.broker.config.node.name, metrics: seen.metrics }], 'this node\'s metrics are the metrics')
  t.equal(seen.status, 'connected')
})

t.test('an authenticator\'s counts and rates; one whose backend fails reads disconnected', async (t) => {
  const down = await freePort()
  const b = await startApiBroker(t, {
    keys: [ADMIN],
    config: {
      authentication: [
        { mechanism: 'password_based', backend: 'built_in_database' },
        { mechanism: 'password_based', backend: 'http', method: 'post', url: `http://127.0.0.1:${down}/auth`, body: { username: '${username}' }, request_timeout: '2s' },
      ],
    },
  })
  const status = async (id: string) => (await b.call(`/api/v5/authentication/${encodeURIComponent(id)}/status`)).json
  t.equal((await b.call(`/api/v5/authentication/${encodeURIComponent(PASSWORD_ID)}/users`, { method: 'POST', json: { user_id: 'alice', password: 'alice-pw' } })).status, 201)
  t.match(await status(PASSWORD_ID), { status: 'connected', metrics: { total: 0, success: 0, failed: 0, nomatch: 0, rate: 0, rate_max: 0, rate_last5m: 0 } })
  t.match(await status('password_based:http'), { status: 'connected' }, 'not asked yet')

  t.equal(await connack(b.tcpPort, { username: 'alice', password: 'alice-pw' }), 0)
  t.equal(await connack(b.tcpPort, { username: 'alice', password: 'alice-pw' }), 0)
  t.equal(await connack(b.tcpPort, { username: 'alice', password: 'wrong' }), 0x86, 'a wrong password: failed')
  t.equal(await connack(b.tcpPort, { username: 'bob', password: 'x' }), 0x87, 'no such user: passed to the HTTP service, which is down')

  const seen = await until(async () => { const s = await status(PASSWORD_ID); return s.metrics.rate > 0 ? s : undefined }, 'a sample after the connections', SAMPLED_WITHIN_MS)
  t.match(seen.metrics, { total: 4, success: 2, failed: 1, nomatch: 1 })
  t.ok(seen.metrics.rate > 0 && seen.metrics.rate_max >= seen.metrics.rate && seen.metrics.rate_last5m > 0, `rate ${seen.metrics.rate}, rate_max ${seen.metrics.rate_max}, rate_last5m ${seen.metrics.rate_last5m} (per second)`)
  t.match(seen, { status: 'connected', node_status: [{ node: b.broker.config.node.name, status: 'connected' }] })

  const http = await status('password_based:http')
  t.match(http, { status: 'disconnected', metrics: { total: 1, success: 0, failed: 0, nomatch: 1 } }, 'the unreachable service: disconnected, its client counted as no match (as EMQX)')
  t.equal((await b.call('/api/v5/authentication/jwt/status')).status, 404)
})
