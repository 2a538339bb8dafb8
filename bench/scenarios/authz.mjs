// Authorization (Culex only): publishes per second through 50 pairs at QoS 0 with every PUBLISH
// authorized (no_match = deny, so a source must allow each one): by an acl.conf file source, and by an HTTP
// source (bench/peers/authz-http.mjs, a node:http service on the broker core answering allow) with
// authorization.cache on (each pair's topic asked once) and off (one HTTP request per PUBLISH).
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { BROKER_CORE, BROKER_START_TIMEOUT_MS, CULEX_ENTRY, HOST, ROOT, culexConfig, describeExit, peakRssKiB, spawnBroker, stopBroker } from '../brokers.mjs'
import { freePort, hasExited, lastLines, waitUntilAccepting } from '../proc.mjs'
import { runLoadgen, throughput } from './throughput.mjs'

const SERVICE = path.join(ROOT, 'bench/peers/authz-http.mjs')

const pairs = (name, label, source) => ({ ...throughput(name, `50 pairs, QoS 0, authorized by ${label}`, 'msg/s', 'pairs', 0), authz: source })

export const scenarios = [
  pairs('authz-file', 'an acl.conf file source', 'file'),
  pairs('authz-http-cache', 'an HTTP source, cache on', 'http-cache'),
  pairs('authz-http-nocache', 'an HTTP source, cache off', 'http-nocache'),
]

export const runsOn = (broker) => broker.name === 'culex'
export { describe } from './throughput.mjs'

function authorization (source, servicePort) {
  if (source === 'file') return 'authorization { no_match = deny, sources = [{ type = file, rules = "{allow, all, all, [\\"bench/#\\"]}." }] }'
  const cache = source === 'http-cache' ? 'true' : 'false'
  return `authorization { no_match = deny, cache.enable = ${cache}, sources = [{ type = http, method = post, url = "http://${HOST}:${servicePort}/authz", request_timeout = 5s, pool_size = 8, body { clientid = "\${clientid}", action = "\${action}", topic = "\${topic}" } }] }`
}

// The service (HTTP scenarios), then Culex; broker CPU is that of both, both on the broker core.
export async function run (scenario, _broker, options) {
  const port = await freePort(HOST)
  const servicePort = await freePort(HOST, port)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-culex-authz-'))
  const children = []
  let brokerStarted = false
  try {
    if (!fs.existsSync(CULEX_ENTRY)) throw new Error('dist/broker.js not found (not built yet?)')
    if (scenario.authz !== 'file') {
      const service = spawnBroker(process.execPath, [SERVICE, String(servicePort)])
      children.push(service)
      await waitUntilAccepting(service, HOST, servicePort, BROKER_START_TIMEOUT_MS, describeExit)
    }
    const config = path.join(dir, 'culex.hocon')
    fs.writeFileSync(config, culexConfig(port, dir) + authorization(scenario.authz, servicePort) + '\n')
    const culex = spawnBroker(process.execPath, [CULEX_ENTRY, '-c', config])
    children.push(culex)
    await waitUntilAccepting(culex, HOST, port, BROKER_START_TIMEOUT_MS, describeExit)
    brokerStarted = true
    const result = await runLoadgen(scenario, port, children.map((c) => c.pid), options.duration)
    return { ok: true, brokerStarted, figures: result.figures, cpu: result.cpu, rssKiB: peakRssKiB(culex.pid) }
  } catch (error) {
    const crashed = children.filter(hasExited).map((c) => lastLines(c.output.text, 2))
    return { ok: false, brokerStarted, error: `${error.message}${brokerStarted && crashed.length ? ` (exited: ${crashed.join('; ')})` : ''}` }
  } finally {
    for (const child of children.reverse()) await stopBroker(child)
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

export const method = (options) => (options.scenarios.some((s) => s.authz)
  ? [`- Authorization (Culex only): 50 pairs at QoS 0 with \`authorization.no_match = deny\`, every PUBLISH allowed by one source: an acl.conf file source (\`{allow, all, all, ["bench/#"]}.\`), or an HTTP source (POST with clientid, action and topic) to bench/peers/authz-http.mjs (node:http answering \`{"result": "allow"}\`, keep-alive), with \`authorization.cache\` on (the default: one request per client and topic per minute) or off (one request per PUBLISH). The service runs on core ${BROKER_CORE} with the broker; broker CPU is both together.`]
  : [])
