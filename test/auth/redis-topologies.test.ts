// redis_type = sentinel and cluster against real servers: a master watched by redis-server --sentinel, and
// a three-node Redis Cluster made by redis-cli --cluster create. The authenticator finds each user wherever
// the cluster keeps its key (ioredis follows MOVED), and the authorization source reads its hash there too.
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { Cluster } from 'ioredis'
import t from 'tap'
import { connectOwned, freePort, startBroker, until } from '../helpers.js'
import { spawnOwned } from '../processes.js'
import { REDIS_SERVER, hasRedis, redisClient, startRedis } from '../cluster/redis-helpers.js'
import { connack } from './authn-helpers.js'

const run = promisify(execFile)
const REDIS_CLI = '/usr/bin/redis-cli'
const skip = !hasRedis || !existsSync(REDIS_CLI) ? 'redis-server and redis-cli are not installed' : false
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex')
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank']

type Teardown = { teardown: (fn: () => unknown) => void }

async function tempDir (t: Teardown): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'culex-redis-topology-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** redis-cli against one server; its output. */
async function cli (port: number, ...args: string[]): Promise<string> {
  return (await run(REDIS_CLI, ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 10_000 })).stdout
}

/** A sentinel watching the master on `masterPort` under the name `name`. */
async function startSentinel (t: Teardown, masterPort: number, name: string): Promise<number> {
  const dir = await tempDir(t)
  const port = await freePort()
  const conf = join(dir, 'sentinel.conf')
  // The sentinel rewrites its configuration file, so it is one of its own.
  await writeFile(conf, `port ${port}\nbind 127.0.0.1\ndir ${dir}\nsentinel monitor ${name} 127.0.0.1 ${masterPort} 1\n`)
  spawnOwned(t, REDIS_SERVER, [conf, '--sentinel'], { stdio: 'ignore' })
  await until(async () => (await cli(port, 'SENTINEL', 'get-master-addr-by-name', name).catch(() => '')).includes(String(masterPort)),
    'the sentinel knows the master')
  return port
}

/** A Redis Cluster of three masters; their ports. */
async function startCluster (t: Teardown): Promise<number[]> {
  const dir = await tempDir(t)
  const ports = [await freePort(), await freePort(), await freePort()]
  for (const port of ports) {
    spawnOwned(t, REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir,
      '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`], { stdio: 'ignore' })
  }
  for (const port of ports) await until(async () => (await cli(port, 'PING').catch(() => '')).includes('PONG'), `redis-server on ${port}`)
  await run(REDIS_CLI, ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'], { timeout: 30_000 })
  for (const port of ports) await until(async () => (await cli(port, 'CLUSTER', 'INFO')).includes('cluster_state:ok'), `the cluster is ok on ${port}`)
  return ports
}

const AUTHN = {
  mechanism: 'password_based',
  backend: 'redis',
  cmd: 'HMGET mqtt_user:${username} password_hash salt',
  password_hash_algorithm: { name: 'sha256', salt_position: 'suffix' },
}

t.test('redis_type = sentinel: the master the sentinel names answers', { skip }, async (t) => {
  const master = await startRedis(t)
  const sentinel = await startSentinel(t, master.port, 'culexmaster')
  await redisClient(t, master.port).hset('mqtt_user:alice', { password_hash: sha256('secret' + 'salt1'), salt: 'salt1' })
  const b = await startBroker({
    authentication: [{ ...AUTHN, redis_type: 'sentinel', servers: `127.0.0.1:${sentinel}`, sentinel: 'culexmaster' }],
  })
  t.teardown(() => b.close())
  t.equal(await connack(b.tcpPort, { username: 'alice', password: 'secret' }), 0, 'the right password, read from the master')
  t.equal(await connack(b.tcpPort, { username: 'alice', password: 'wrong' }), 0x86, 'a wrong one')
  t.equal(await connack(b.tcpPort, { username: 'nobody', password: 'x' }), 0x87, 'no such user: ignored, and the chain refuses')
})

t.test('redis_type = sentinel: a master name the sentinel does not know is a failure the log names', { skip }, async (t) => {
  const master = await startRedis(t)
  const sentinel = await startSentinel(t, master.port, 'culexmaster')
  const b = await startBroker({
    authentication: [{ ...AUTHN, redis_type: 'sentinel', servers: `127.0.0.1:${sentinel}`, sentinel: 'nosuchmaster' }],
  })
  t.teardown(() => b.close())
  // ioredis asks the sentinel until the command's own time is up (5 s), so the client waits longer.
  t.equal(await connack(b.tcpPort, { username: 'alice', password: 'secret', connectTimeout: 15_000 }), 0x87, 'ignored: the chain refuses')
  t.match(b.logs.find((l) => l.backend === 'password_based:redis' && l.level === 40), { reason: /No such master with that name/ },
    'the warning says what the sentinel answered')
})

t.test('redis_type = cluster: users on every node, authentication and an authorization hash', { skip }, async (t) => {
  const ports = await startCluster(t)
  const cluster = new Cluster(ports.map((port) => ({ host: '127.0.0.1', port })))
  t.teardown(() => cluster.disconnect())
  for (const user of USERS) await cluster.hset(`mqtt_user:${user}`, { password_hash: sha256(`pw-${user}` + 'salt'), salt: 'salt' })
  await cluster.hset('mqtt_acl:alice', { 'alice/#': 'all' })
  const owners = new Set<number>()
  for (const user of USERS) {
    const slot = Number(await cli(ports[0]!, 'CLUSTER', 'KEYSLOT', `mqtt_user:${user}`))
    for (const port of ports) {
      if (Number(await cli(port, 'CLUSTER', 'COUNTKEYSINSLOT', String(slot))) > 0) owners.add(port)
    }
  }
  t.ok(owners.size >= 2, `the users' keys are on ${owners.size} of the 3 nodes`)

  const servers = ports.map((p) => `127.0.0.1:${p}`).join(',')
  const b = await startBroker({
    authentication: [{ ...AUTHN, redis_type: 'cluster', servers }],
    authorization: { no_match: 'deny', sources: [{ type: 'redis', redis_type: 'cluster', servers, cmd: 'HGETALL mqtt_acl:${username}' }] },
  })
  t.teardown(() => b.close())
  for (const user of USERS) {
    t.equal(await connack(b.tcpPort, { username: user, password: `pw-${user}` }), 0, `${user} is found on the node that holds the key`)
  }
  t.equal(await connack(b.tcpPort, { username: 'alice', password: 'pw-bob' }), 0x86, 'a wrong password')

  const alice = await connectOwned(t, b.tcpPort, { clientId: 'alice-c', username: 'alice', password: 'pw-alice', protocolVersion: 5 })
  // MQTT.js rejects a SUBACK refusal, with the packet.
  const granted = (topic: string) => alice.subscribeAsync(topic, { qos: 1 }).then((g) => g[0]!.qos,
    (err: { packet?: { granted?: number[] } }) => err.packet?.granted?.[0] ?? -1)
  t.equal(await granted('alice/inbox'), 1, 'the hash on the cluster allows alice/#')
  t.equal(await granted('bob/inbox'), 0x87, 'anything else falls to no_match = deny')
})
