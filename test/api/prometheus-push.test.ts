// prometheus.push_gateway (EMQX 5.8) and EMQX 5.0's push_gateway_server form: the metrics of
// /api/v5/prometheus/stats pushed every interval to a push gateway (a node:http server here), with the method,
// headers and job name asked for; a failing gateway is logged, once a minute at most, and never stops the broker.
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { connectClient, end, startBroker, until } from '../helpers.js'
import { startApiBroker } from './api-helpers.js'

interface Push { method: string, url: string, headers: IncomingHttpHeaders, body: string }

/** A push gateway stand-in on a loopback port: records each request and answers `status(n)` to the n-th (from 1). */
async function gateway (t: Test, status: (n: number) => number = () => 200): Promise<{ url: string, pushes: Push[], server: Server }> {
  const pushes: Push[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      pushes.push({ method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString() })
      res.writeHead(status(pushes.length)).end(status(pushes.length) === 200 ? '' : 'gateway unhappy')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())))
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, pushes, server }
}

const metricNames = (text: string) => new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]))

t.test('push_gateway: POST of the scrape\'s metrics to <url>/metrics/job/<job_name>, with the headers, every interval', async (t) => {
  const gw = await gateway(t)
  const b = await startApiBroker(t, {
    config: {
      node: { name: 'emqx@10.0.0.7' },
      prometheus: {
        push_gateway: {
          enable: true, method: 'post', url: `${gw.url}/`, interval: '50ms',
          headers: { Authorization: 'Basic YWRtaW46c2VjcmV0', 'X-Tenant': 'blue' },
          job_name: '${name}/instance/${name}~${host}',
        },
      },
    },
  })
  await until(() => gw.pushes.length >= 2, 'two pushes')
  const push = gw.pushes[0]!
  t.equal(push.method, 'POST')
  t.equal(push.url, '/metrics/job/emqx/instance/emqx~10.0.0.7', 'the job name\'s placeholders filled in; the URL\'s trailing slash not doubled')
  t.equal(push.headers.authorization, 'Basic YWRtaW46c2VjcmV0')
  t.equal(push.headers['x-tenant'], 'blue')
  t.match(push.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  const scrape = await b.call('/api/v5/prometheus/stats')
  t.ok(metricNames(push.body).size > 20, 'a full exposition')
  t.same(metricNames(push.body), metricNames(scrape.text), 'the same metrics as GET /api/v5/prometheus/stats')
  t.match(push.body, /^emqx_connections_count \d+$/m)
})

t.test('the figures pushed are current: a client connecting shows in the next push', async (t) => {
  const gw = await gateway(t)
  const b = await startBroker({ prometheus: { push_gateway: { enable: true, url: gw.url, interval: '50ms' } } })
  t.teardown(() => b.close())
  await until(() => gw.pushes.some((p) => /^emqx_connections_count 0$/m.test(p.body)), 'a push with no connection')
  const client = await connectClient(b.tcpPort)
  t.teardown(() => end(client, true))
  await until(() => gw.pushes.some((p) => /^emqx_connections_count 1$/m.test(p.body)), 'a push with the client counted')
  t.equal(gw.pushes[0]!.method, 'PUT', 'put by default')
  t.equal(gw.pushes[0]!.url, '/metrics/job/culex/instance/culex~127.0.0.1', 'the default job name from the default node.name')
})

t.test('EMQX 5.0\'s form: push_gateway_server, interval, headers, job_name and enable', async (t) => {
  const gw = await gateway(t)
  const b = await startBroker({
    node: { name: 'edge@gw.example' },
    prometheus: { push_gateway_server: gw.url, interval: '50ms', headers: { 'X-Key': 'k1' }, job_name: 'broker_${host}_${cluster_name}', enable: true },
  })
  t.teardown(() => b.close())
  await until(() => gw.pushes.length >= 1, 'a push')
  t.equal(gw.pushes[0]!.method, 'PUT')
  t.equal(gw.pushes[0]!.url, '/metrics/job/broker_gw.example_emqxcl')
  t.equal(gw.pushes[0]!.headers['x-key'], 'k1')
})

t.test('a failing push gateway: one warning, the broker serves on, and a line when pushes work again', async (t) => {
  // The first three pushes fail, the rest succeed.
  const gw = await gateway(t, (n) => (n <= 3 ? 503 : 200))
  const b = await startBroker({ prometheus: { push_gateway: { enable: true, url: gw.url, interval: '30ms' } } })
  t.teardown(() => b.close())
  const lines = (msg: RegExp) => b.logs.filter((l) => typeof l.msg === 'string' && msg.test(l.msg))
  await until(() => lines(/works again/).length > 0, 'the recovery line')
  const failed = lines(/push to the push gateway failed/)
  t.equal(failed.length, 1, 'three failures within a minute: one line')
  t.match(failed[0], { level: 40, failures: 1, err: 'HTTP 503: gateway unhappy' })
  t.match(lines(/works again/)[0], { level: 35, failures: 2 }, 'the failures not logged are counted when it works again')
  const client = await connectClient(b.tcpPort)
  t.ok(client.connected, 'the broker serves clients throughout')
  await end(client)
})

t.test('a gateway that is not there: logged, no crash; enable = false pushes nothing', async (t) => {
  const gw = await gateway(t)
  const url = gw.url
  await new Promise<void>((resolve) => gw.server.close(() => resolve()))
  const b = await startBroker({ prometheus: { push_gateway: { enable: true, url, interval: '30ms' } } })
  t.teardown(() => b.close())
  const failure = await until(() => b.logs.find((l) => typeof l.msg === 'string' && l.msg.startsWith('prometheus: push to the push gateway failed')), 'the failure line')
  t.match(failure, { level: 40, url: `${url}/metrics/job/culex/instance/culex~127.0.0.1`, err: /ECONNREFUSED/ })
  const client = await connectClient(b.tcpPort)
  t.ok(client.connected)
  await end(client)

  const off = await gateway(t)
  const quiet = await startBroker({ prometheus: { push_gateway: { enable: false, url: off.url, interval: '10ms' } } })
  t.teardown(() => quiet.close())
  t.notOk(quiet.logs.some((l) => typeof l.msg === 'string' && l.msg.startsWith('prometheus: push')), 'no push started')
})

t.test('the two forms together are refused, naming the key', async (t) => {
  await t.rejects(startBroker({ prometheus: { push_gateway: { enable: true }, push_gateway_server: 'http://127.0.0.1:9091' } }), { message: /prometheus\.push_gateway_server: EMQX 5\.0's form .* use one of them/ })
})
