// GET /api/v5/nodes on a single node: EMQX 5.8's node_info fields this node can give (sessions and live
// connections, the host's memory as EMQX writes sizes, load averages, the open-file limit). The cluster's
// other nodes are in test/cluster/redis.test.ts.
import { readFileSync } from 'node:fs'
import t from 'tap'
import { kmg } from '../../src/api/nodes.js'
import { connectClient, end } from '../helpers.js'
import { ADMIN, startApiBroker, until } from './api-helpers.js'

t.test('kmg writes sizes as EMQX does: two decimals and K, M or G above each unit, bytes up to 1 KiB', async (t) => {
  t.equal(kmg(0), '0')
  t.equal(kmg(1024), '1024', 'exactly 1 KiB stays in bytes (EMQX: strictly greater than the unit)')
  t.equal(kmg(1536), '1.50K')
  t.equal(kmg(256 * 1024 ** 2 + 1), '256.00M')
  t.equal(kmg(15.52 * 1024 ** 3), '15.52G')
})

t.test('a node lists its sessions, its connected clients, the host\'s memory and load, and its file limit', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN], config: { node: { name: 'nodes-test@127.0.0.1' } } })
  const away = await connectClient(b.tcpPort, { clientId: 'nodes-away', clean: false })
  await end(away)
  const here = await connectClient(b.tcpPort, { clientId: 'nodes-here' })
  t.teardown(() => end(here, true))

  const node = await until(async () => {
    const [n] = (await b.call('/api/v5/nodes')).json as Array<Record<string, unknown>>
    return n?.connections === 2 ? n : undefined
  }, 'the disconnected session counted')
  t.equal(node.node, 'nodes-test@127.0.0.1')
  t.equal(node.node_status, 'running')
  t.equal(node.connections, 2, 'connections: sessions, connected or not (EMQX)')
  t.equal(node.live_connections, 1, 'live_connections: connected clients')
  t.match(node.memory_total, /^\d+\.\d\d[KMG]$/)
  t.match(node.memory_used, /^\d+\.\d\d[KMG]$/)
  const soft = Number(/^Max open files\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))![1])
  t.equal(node.max_fds, soft, 'the soft limit of open files (the broker runs in this process)')
  for (const load of ['load1', 'load5', 'load15']) t.type(node[load], 'number', load)
  t.equal(node.role, 'core')
  t.type(node.uptime, 'number')
})
