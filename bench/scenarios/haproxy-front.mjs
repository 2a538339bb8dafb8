// "HAProxy TLS front": HAProxy terminating TLS and Culex behind it on a plain tcp listener over the PROXY
// protocol (send-proxy-v2-ssl), run as one more column of the TLS scenarios (bench/scenarios/tls.mjs): both
// processes pinned to the broker's core, CPU per handshake and memory per idle TLS connection summed over
// the two, next to Mosquitto, the Node TLS floor and Culex's own TLS listener.
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { hardFileLimit, sourceAddressCount } from '../proc.mjs'

export const HAPROXY = '/usr/sbin/haproxy'
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const CULEX_ENTRY = path.join(ROOT, 'dist/broker.js')
const HOST = '127.0.0.1'
// Above the largest idle scenario (tls-idle-50k), with room for the warm-up, unless the hard limit of open
// files is lower: HAProxy needs two per connection (client and Culex side) and refuses to start otherwise.
const WANTED_CONNECTIONS = 51_000
const SPARE_FILES = 200
const openFiles = (connections) => 2 * connections + SPARE_FILES
const maxConnections = () => Math.min(WANTED_CONNECTIONS, Math.floor((hardFileLimit() - SPARE_FILES) / 2))
// HAProxy's connections to Culex all go to one port: beyond one client address's ephemeral ports they need
// more, one server line per address (127.0.1.x, apart from the load generator's 127.0.0.x), round robin.
const culexSources = () => sourceAddressCount(maxConnections())

/**
 * The bench/brokers.mjs entry. prepare() returns HAProxy as the command (listening on the TLS port) and Culex
 * as its companion (on the plain port, where only HAProxy connects); runOnFreshBroker starts, samples and
 * stops both.
 */
export const haproxyFront = { name: 'haproxy-front', label: 'HAProxy TLS front + Culex', prepare, tlsOnly: true, openFiles, openFilesWho: 'HAProxy (two per connection)' }

function prepare (port, dir, tls, apiPort) {
  if (!tls) throw new Error('the HAProxy TLS front runs only the TLS scenarios')
  if (!fs.existsSync(HAPROXY)) throw new Error(`${HAPROXY} not found (Debian: apt-get install haproxy)`)
  if (!fs.existsSync(CULEX_ENTRY)) throw new Error('dist/broker.js not found (not built yet?)')
  const pem = path.join(dir, 'haproxy.pem')
  fs.writeFileSync(pem, fs.readFileSync(path.join(tls.certDir, 'server.pem'), 'utf8') + fs.readFileSync(path.join(tls.certDir, 'server.key'), 'utf8'))
  const haproxyCfg = path.join(dir, 'haproxy.cfg')
  fs.writeFileSync(haproxyCfg, haproxyConfig(port, tls.port, pem))
  const culexCfg = path.join(dir, 'culex.hocon')
  fs.writeFileSync(culexCfg, culexConfig(port, dir, apiPort))
  return {
    command: HAPROXY,
    args: ['-db', '-f', haproxyCfg],
    // Ready once its API port accepts too, as Culex alone (bench/brokers.mjs prepareCulex): before, the idle
    // scenarios took their "before" RSS while it was still loading the API, ~40 MiB that counted per connection.
    companion: { command: process.execPath, args: [CULEX_ENTRY, '-c', culexCfg], port, readyPort: apiPort },
  }
}

function haproxyConfig (culexPort, tlsPort, pem) {
  return [
    'global',
    `  maxconn ${maxConnections()}`,
    '  nbthread 1',
    'defaults',
    '  mode tcp',
    '  timeout connect 5s',
    // Longer than opening tls-idle-50k's connections may take (bench/scenarios/tls.mjs gives up after 333 s).
    '  timeout client 10m',
    '  timeout server 10m',
    'frontend mqtts',
    `  bind ${HOST}:${tlsPort} ssl crt ${pem}`,
    '  default_backend culex',
    'backend culex',
    ...culexServers(culexPort),
    '',
  ].join('\n')
}

function culexServers (culexPort) {
  const count = culexSources()
  if (count === 1) return [`  server culex ${HOST}:${culexPort} send-proxy-v2-ssl`]
  return Array.from({ length: count }, (_, i) => `  server culex${i + 1} ${HOST}:${culexPort} source 127.0.1.${i + 1} send-proxy-v2-ssl`)
}

function culexConfig (port, dataDir, apiPort) {
  return [
    `node.data_dir = ${JSON.stringify(dataDir)}`,
    `dashboard.listeners.http.bind = "${HOST}:${apiPort}"`,
    'log.console { enable = true, level = warning }',
    `listeners.tcp.default { bind = "${HOST}:${port}", proxy_protocol = true }`,
    'listeners.ssl.default { enable = false }',
    'listeners.ws.default { enable = false }',
    'listeners.wss.default { enable = false }',
    'mqtt { max_mqueue_len = 10000000, max_inflight = 65535 }',
    '',
  ].join('\n')
}

export function haproxyVersion () {
  const out = spawnSync(HAPROXY, ['-v'], { encoding: 'utf8' })
  return /HAProxy version (\S+)/.exec(out.stdout ?? '')?.[1] ?? 'not installed'
}

/** The method paragraph's line. */
export function method () {
  return `HAProxy TLS front + Culex (TLS scenarios only): HAProxy ${haproxyVersion()} (\`nbthread 1\`, \`mode tcp\`, \`bind ... ssl crt\` with the certificate and key the others get, \`server ... send-proxy-v2-ssl\`) terminates TLS and passes each connection to Culex's tcp listener with \`proxy_protocol = true\` (bench/scenarios/haproxy-front.mjs); both pinned to the broker's core, their CPU and RSS summed. HAProxy's \`maxconn\` is ${maxConnections()} here (two open files per connection, under this machine's hard limit of ${hardFileLimit().toLocaleString('en-US')})${culexSources() > 1 ? `, its connections to Culex spread over ${culexSources()} \`server\` lines with \`source 127.0.1.1\`… (one client address has only so many ephemeral ports)` : ''}.`
}
