// A throwaway redis-server for cluster tests: its own port, no persistence, killed at teardown.
import type { ChildProcess } from 'node:child_process'
import { spawnOwned } from '../processes.js'
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { delay, freePort, spawnBrokerProcess, startBroker, tcpOnlyHocon, until as untilTruthy, type TestBroker } from '../helpers.js'

export const REDIS_SERVER = '/usr/bin/redis-server'
export const hasRedis = existsSync(REDIS_SERVER)

interface Teardown { teardown: (fn: () => unknown) => void }

/** Starts redis-server on a free loopback port; resolves once it answers PING. */
export async function startRedis (t: Teardown): Promise<{ port: number, servers: string, pid: number, stop (): Promise<void> }> {
  const port = await freePort()
  const child = spawnOwned(t, REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
  const deadline = Date.now() + 5000
  while (!(await pong(port))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server did not answer PING on port ${port}`)
    await delay(50)
  }
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const stop = async () => { child.kill('SIGKILL'); await exited }
  return { port, servers: `127.0.0.1:${port}`, pid: child.pid!, stop }
}

function pong (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    let got = ''
    socket.on('connect', () => socket.write('PING\r\n'))
    socket.on('data', (chunk) => {
      got += String(chunk)
      if (got.includes('\r\n')) { socket.destroy(); resolve(got.startsWith('+PONG')) }
    })
    socket.on('error', () => resolve(false))
  })
}

/** The cluster section for a node of the cluster under that key prefix (short heartbeats). */
export function clusterConfig (servers: string, prefix: string) {
  return { backend: 'redis', redis: { servers, key_prefix: prefix }, heartbeat_interval: '200ms', node_timeout: '1s' }
}

/** An in-process node of a test cluster; closed at teardown. */
export async function startNode (t: Teardown, name: string, servers: string, prefix: string, config: Record<string, unknown> = {}): Promise<TestBroker> {
  const node = await startBroker({ node: { name }, cluster: clusterConfig(servers, prefix), ...config })
  t.teardown(() => node.close())
  return node
}

/** A plain Redis client, for looking at (or planting) what the nodes share. */
export function redisClient (t: Teardown, port: number): Redis {
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: false, maxRetriesPerRequest: 1 })
  t.teardown(() => redis.disconnect())
  return redis
}

/** Polls until check() is true (or throws after timeoutMs): the helpers' until, `what` first. */
export async function until (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  await untilTruthy(check, what, timeoutMs)
}

/**
 * A node of the cluster as its own broker process (src/broker.ts through tsx) on `port`, its config in
 * `dir`; resolves once it accepts MQTT clients. Killed (SIGKILL) at teardown if still running.
 */
export function spawnNode (t: Teardown, dir: string, name: string, port: number, servers: string, prefix: string): Promise<ChildProcess> {
  return spawnBrokerProcess(t, join(dir, `${name}.hocon`), tcpOnlyHocon(join(dir, name), port, 'memory', `node.name = "${name}"
cluster { backend = redis, redis { servers = "${servers}", key_prefix = "${prefix}" }, heartbeat_interval = 200ms, node_timeout = 1s }
`), port)
}
