// Cluster (Culex only): two Culex nodes and the redis-server they share, all on the broker core;
// publishers on node A, subscribers on node B, every message crossing Redis; and the same with the
// subscribers on A too, where nothing should cross. A client PSUBSCRIBEd to the nodes' message channels
// counts what Redis carried.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { BROKER_CORE, BROKER_START_TIMEOUT_MS, CULEX_ENTRY, HOST, culexConfig, describeExit, peakRssKiB, spawnBroker, stopBroker } from '../brokers.mjs'
import { freePort, hasExited, lastLines, waitUntilAccepting } from '../proc.mjs'
import { Redis } from 'ioredis'
import { describeLoadgenRun, runLoadgen, throughput } from './throughput.mjs'

const REDIS_SERVER = '/usr/bin/redis-server'

export const scenarios = [
  { ...throughput('cluster-fanout0', 'Cluster of 2: fan-out 1 → 100, QoS 0, publisher on A, subscribers on B', 'deliveries/s', 'fanout', 0), cluster: true },
  { ...throughput('cluster-pairs0', 'Cluster of 2: 50 pairs, QoS 0, publishers on A, subscribers on B', 'msg/s', 'pairs', 0), cluster: true },
  { ...throughput('cluster-local0', 'Cluster of 2: 50 pairs, QoS 0, publishers and subscribers on A only', 'msg/s', 'pairs', 0), cluster: true, local: true },
]

// Mosquitto and aedes have no cluster of their own.
export const runsOn = (broker) => broker.name === 'culex'
export const describe = (scenario, run) => describeLoadgenRun(run, `${Math.round(run.figures.delivered_per_s).toLocaleString('en-US')} ${scenario.unit}`) +
  `  through Redis: ${run.redis?.messages ?? '?'} payloads, ${fmtBytes(run.redis?.bytes)}`

const fmtBytes = (n) => n == null ? '?' : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`

// node.name and cluster section of a node of the benchmark cluster.
function culexClusterConfig (port, dataDir, name, redisPort) {
  return culexConfig(port, dataDir) + [
    `node.name = "${name}"`,
    `cluster { backend = redis, redis { servers = "${HOST}:${redisPort}", key_prefix = bench } }`,
    '',
  ].join('\n')
}

// redis-server, then nodes A and B; broker CPU and RSS are summed over the three processes (RSS: the two nodes).
export async function run (scenario, _broker, options) {
  if (!fs.existsSync(REDIS_SERVER)) return { ok: false, brokerStarted: false, error: `${REDIS_SERVER} not found` }
  const redisPort = await freePort(HOST)
  const ports = [await freePort(HOST, redisPort)]
  ports.push(await freePort(HOST, ports[0]))
  const dirs = ['a', 'b'].map((n) => fs.mkdtempSync(path.join(os.tmpdir(), `bench-culex-${n}-`)))
  const children = []
  let brokerStarted = false
  let spy = null
  try {
    if (!fs.existsSync(CULEX_ENTRY)) throw new Error('dist/broker.js not found (not built yet?)')
    const redis = spawnBroker(REDIS_SERVER, ['--port', String(redisPort), '--bind', HOST, '--save', '', '--appendonly', 'no'])
    children.push(redis)
    await waitUntilAccepting(redis, HOST, redisPort, BROKER_START_TIMEOUT_MS, describeExit)
    const nodes = ['a', 'b'].map((n, i) => {
      const config = path.join(dirs[i], 'culex.hocon')
      fs.writeFileSync(config, culexClusterConfig(ports[i], dirs[i], `${n}@bench`, redisPort))
      const child = spawnBroker(process.execPath, [CULEX_ENTRY, '-c', config])
      children.push(child)
      return child
    })
    await Promise.all(nodes.map((child, i) => waitUntilAccepting(child, HOST, ports[i], BROKER_START_TIMEOUT_MS, describeExit)))
    brokerStarted = true
    const pids = children.map((c) => c.pid)
    const carried = { messages: 0, bytes: 0 }
    spy = new Redis({ host: HOST, port: redisPort, lazyConnect: true })
    await spy.connect()
    spy.on('pmessageBuffer', (_pattern, _channel, payload) => { carried.messages++; carried.bytes += payload.length })
    await spy.psubscribe('bench:msg*')
    const result = await runLoadgen(scenario, ports[0], pids, options.duration, scenario.local ? ports[0] : ports[1])
    return { ok: true, brokerStarted, figures: result.figures, cpu: result.cpu, rssKiB: peakRssKiB(nodes.map((c) => c.pid)), redis: carried }
  } catch (error) {
    const crashed = children.filter(hasExited).map((c) => lastLines(c.output.text, 2))
    return { ok: false, brokerStarted, error: `${error.message}${brokerStarted && crashed.length ? ` (exited: ${crashed.join('; ')})` : ''}` }
  } finally {
    spy?.disconnect()
    for (const child of children.reverse()) await stopBroker(child)
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  }
}

// ---------- report ----------

export const method = (options) => (options.scenarios.some((s) => s.cluster)
  ? [`- Cluster (Culex only): redis-server (no persistence) and two Culex nodes (the config below plus \`node.name\` and \`cluster { backend = redis }\`), all three pinned to core ${BROKER_CORE}; the load generator's publishers connect to node A and its subscribers to node B (\`--sub-port\`), so every message crosses Redis ("on A only": subscribers on A too, so nothing should). Broker CPU and RSS are those of the three processes (RSS: the two nodes) together; what Redis carried is counted by a client PSUBSCRIBEd to the nodes' message channels (\`bench:msg*\`) from set-up to the end of the run.`]
  : [])

/** What crossed Redis in each cluster scenario. */
export function redisTable (results, scenarios) {
  const rows = scenarios.filter((s) => s.cluster).map((s) => {
    const run = results.runs[s.name]?.culex
    if (!run?.ok || !run.redis) return `| ${s.label} | n/a | n/a | n/a |`
    return `| ${s.label} | ${Math.round(run.figures.delivered_per_s).toLocaleString('en-US')} ${s.unit} | ${run.redis.messages.toLocaleString('en-US')} | ${fmtBytes(run.redis.bytes)} |`
  })
  return rows.length ? ['| Scenario | Throughput | Payloads through Redis | Bytes through Redis |', '| --- | ---: | ---: | ---: |', ...rows].join('\n') : null
}
