// A throwaway HAProxy for the PROXY protocol tests: its own config (written here) in a temporary directory,
// frontends on free loopback ports, run in the foreground and killed (process group and all) at teardown.
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { join } from 'node:path'
import { delay, freePort } from '../helpers.js'
import { spawnOwned } from '../processes.js'

export const HAPROXY = '/usr/sbin/haproxy'
export const hasHaproxy = existsSync(HAPROXY)

type Teardown = { teardown: (fn: () => unknown) => void }

/** One frontend and its backend: `bind` options after the address, `server` options after its address. */
export interface Route { name: string, bind?: string, target: number, server: string }

/**
 * Starts HAProxy (mode tcp) with one frontend per route on a free 127.0.0.1 port, each forwarding to
 * 127.0.0.1:target from the source address 127.0.0.3 (so that the proxy's address differs from the clients').
 * Resolves with each route's port once every frontend accepts connections.
 */
export async function startHaproxy (t: Teardown, dir: string, routes: Route[]): Promise<Record<string, number>> {
  const ports: Record<string, number> = {}
  const lines = [
    'global',
    '  maxconn 2000',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    '  timeout client 60s',
    '  timeout server 60s',
  ]
  for (const r of routes) {
    ports[r.name] = await freePort()
    lines.push(
      `frontend ${r.name}`, `  bind 127.0.0.1:${ports[r.name]}${r.bind ? ` ${r.bind}` : ''}`, `  default_backend ${r.name}_culex`,
      `backend ${r.name}_culex`, `  server culex 127.0.0.1:${r.target} source 127.0.0.3 ${r.server}`,
    )
  }
  const file = join(dir, 'haproxy.cfg')
  await writeFile(file, lines.join('\n') + '\n')
  const child = spawnOwned(t, HAPROXY, ['-f', file, '-db'], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  child.stderr?.on('data', (c: Buffer) => { stderr += String(c) })
  const deadline = Date.now() + 10_000
  for (const port of Object.values(ports)) {
    while (!(await accepts(port))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`haproxy did not start: ${stderr}`)
      await delay(50)
    }
  }
  return ports
}

function accepts (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port })
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => resolve(false))
  })
}
