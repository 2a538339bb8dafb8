// Cluster (Culex only): two Culex nodes and the redis-server they share, all on the broker core;
// publishers on node A, subscribers on node B, every message crossing Redis.
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { BROKER_CORE, BROKER_START_TIMEOUT_MS, CULEX_ENTRY, HOST, culexConfig, describeExit, peakRssKiB, spawnBroker, stopBroker } from '../brokers.mjs'
import { freePort, hasExited, lastLines, waitUntilAccepting } from '../proc.mjs'
import { runLoadgen, throughput } from './throughput.mjs'

const REDIS_SERVER = '/usr/bin/redis-server'

export const scenarios = [
  { ...throughput('cluster-fanout0', 'Cluster of 2: fan-out 1 → 100, QoS 0, publisher on A, subscribers on B', 'deliveries/s', 'fanout', 0), cluster: true },
  { ...throughput('cluster-pairs0', 'Cluster of 2: 50 pairs, QoS 0, publishers on A, subscribers on B', 'msg/s', 'pairs', 0), cluster: true },
]

// Mosquitto and aedes have no cluster of their own.
export const runsOn = (broker) => broker.name === 'culex'
export { describe } from './throughput.mjs'

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
    const result = await runLoadgen(scenario, ports[0], pids, options.duration, ports[1])
    return { ok: true, brokerStarted, figures: result.figures, cpu: result.cpu, rssKiB: peakRssKiB(nodes.map((c) => c.pid)) }
  } catch (error) {
    const crashed = children.filter(hasExited).map((c) => lastLines(c.output.text, 2))
    return { ok: false, brokerStarted, error: `${error.message}${brokerStarted && crashed.length ? ` (exited: ${crashed.join('; ')})` : ''}` }
  } finally {
    for (const child of children.reverse()) await stopBroker(child)
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  }
}

// ---------- report ----------

export const method = (options) => (options.scenarios.some((s) => s.cluster)
  ? [`- Cluster (Culex only): redis-server (no persistence) and two Culex nodes (the config below plus \`node.name\` and \`cluster { backend = redis }\`), all three pinned to core ${BROKER_CORE}; the load generator's publishers connect to node A and its subscribers to node B (\`--sub-port\`), so every message crosses Redis. Broker CPU and RSS are those of the three processes (RSS: the two nodes) together.`]
  : [])
