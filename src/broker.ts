#!/usr/bin/env node
// Command-line entry: `node dist/broker.js -c etc/base.hocon` or `culex start -c etc/base.hocon`.
import cluster from 'node:cluster'
import { parseArgs } from 'node:util'
import { refuseWorkersWithRedis, WORKER_ENV, WORKER_SOCKET_ENV, workerCount } from './cluster/host/protocol.js'
import { loadConfig } from './config/load.js'
import type { CulexConfig } from './config/schema.js'
import { createLog, type Log } from './log.js'
import { CONFIGURATION_ERRORS, CulexError } from './errors.js'
import { LOG_LEVELS } from './config/schema.js'
import { ensureDevCertificates } from './certs/dev.js'
import { Broker } from './server.js'
import { settleHeap } from './settle-heap.js'
import { VERSION } from './version.js'

const HELP = `Usage: culex [start] [options]
       culex check [-c FILE]
       culex certs <command> [options]

Starts the Culex MQTT broker. culex check reads and validates a configuration and the files it names
without starting anything. culex certs creates and checks TLS certificates (culex certs --help).

Options:
  -c, --config FILE     HOCON configuration file (default etc/base.hocon)
  -l, --log-level LEVEL console log level: ${LOG_LEVELS.slice(0, 6).join(', ')}
  -h, --help            show this help
  -v, --version         show the version

Environment: EMQX_<PATH> and CULEX_<PATH> override configuration keys,
e.g. EMQX_LISTENERS__TCP__DEFAULT__BIND="0.0.0.0:1884".
Signals: SIGTERM or SIGINT stop the broker cleanly (DISCONNECT 0x8B to MQTT 5 clients);
SIGHUP reloads the TLS certificate, key and CA files of the ssl and wss listeners, and acl.conf.
`

async function main (argv: string[]): Promise<number> {
  // Loaded only for this command: the broker itself never needs the certificate tooling.
  if (argv[0] === 'certs') return (await import('./certs/cli.js')).runCertsCli(argv.slice(1))
  if (argv[0] === 'check') return check(argv.slice(1))
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c', default: 'etc/base.hocon' },
      'log-level': { type: 'string', short: 'l' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean', short: 'v' },
    },
  })
  if (values.help) { process.stdout.write(HELP); return 0 }
  if (values.version) { process.stdout.write(`culex ${VERSION}\n`); return 0 }
  const command = positionals[0] ?? 'start'
  if (command !== 'start' || positionals.length > 1) {
    process.stderr.write(`culex: unknown command ${positionals.join(' ')}\n\n${HELP}`)
    return 2
  }
  const env = { ...process.env }
  const level = values['log-level']
  if (level !== undefined) {
    if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new CulexError('CULEX_ERR_USAGE', `--log-level must be one of ${LOG_LEVELS.join(', ')}`)
    env.CULEX_LOG__CONSOLE__LEVEL = level
  }
  const worker = cluster.isWorker ? Number(env[WORKER_ENV]) || undefined : undefined
  // Not configuration keys: the host bus reads its socket path from process.env.
  delete env[WORKER_ENV]
  delete env[WORKER_SOCKET_ENV]
  const loaded = loadConfig({ file: values.config, env })
  if (worker === undefined && workerCount(loaded.config) > 1) return runWorkers(loaded.config, values.config)
  const broker = new Broker({ loaded, ...(worker ? { worker } : {}) })
  // With node.workers, the primary has made them before forking.
  if (!worker) await ensureDevCertificates(broker.config, broker.log)
  await broker.start()
  const addresses = broker.listeners.filter((l) => l.running).map((l) => `${l.id}=${l.address()!.host}:${l.address()!.port}`)
  const api = broker.api?.address()
  broker.log.notice({ version: VERSION, config: values.config, listeners: addresses.join(' '), ...(api ? { api: `http://${api.host}:${api.port}` } : {}) }, startedLine())
  // This process is the broker's own (not a test or an application embedding it): its start-up garbage goes now.
  settleHeap()
  // A worker ignores a second signal: Ctrl-C reaches it and its primary, which passes SIGTERM on.
  await untilStopped(broker.log, 'stopping', () => broker.close(), () => broker.reload('SIGHUP'), worker !== undefined)
  // A worker's IPC channel to its primary would keep it running.
  if (worker) process.disconnect()
  return 0
}

/** node.workers > 1: this process forks and watches the workers, which run the broker. */
async function runWorkers (config: CulexConfig, file: string): Promise<number> {
  const log = createLog(config.log)
  refuseWorkersWithRedis(config)
  await ensureDevCertificates(config, log)
  const { WorkerPrimary } = await import('./cluster/host/primary.js')
  const primary = new WorkerPrimary(config, log)
  const stopped = untilStopped(log, 'stopping the workers', () => primary.stop(), () => primary.signal('SIGHUP'))
  try {
    await primary.start()
  } catch (err) {
    await primary.stop()
    throw err
  }
  log.notice({ version: VERSION, config: file, workers: primary.pids.length, pids: primary.pids.join(' ') }, startedLine())
  await stopped
  return 0
}

/** `culex check -c FILE`: 0 with OK (and the keys without effect), 2 with every error found. */
async function check (argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c', default: 'etc/base.hocon' } } })
  const { checkConfigFile } = await import('./config/check.js')
  const { errors, notices } = await checkConfigFile(values.config, { ...process.env })
  for (const notice of notices) process.stdout.write(`${notice}\n`)
  if (errors.length > 0) {
    for (const error of errors) process.stderr.write(`culex check: ${error}\n`)
    return 2
  }
  process.stdout.write(`OK: ${values.config}\n`)
  return 0
}

/** `culex 0.1.0 started in 312 ms`, counted from the process's start. */
function startedLine (): string {
  return `culex ${VERSION} started in ${Math.round(performance.now())} ms`
}

/**
 * Resolves once SIGTERM or SIGINT has run `stop` to its end; SIGHUP runs `reload`. A second stop signal
 * forces the exit, unless `ignoreSecond`.
 */
function untilStopped (log: Log, message: string, stop: () => Promise<void>, reload: () => void, ignoreSecond = false): Promise<void> {
  return new Promise<void>((resolve) => {
    let stopping = false
    const onSignal = (signal: string) => {
      if (stopping) { if (!ignoreSecond) process.exit(1); return }
      stopping = true
      log.notice({ signal }, message)
      stop().then(resolve, resolve)
    }
    process.on('SIGHUP', reload)
    process.on('SIGTERM', () => onSignal('SIGTERM'))
    process.on('SIGINT', () => onSignal('SIGINT'))
  })
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: unknown) => {
  const message = err instanceof CulexError ? `${err.message}` : err instanceof Error ? err.message : String(err)
  process.stderr.write(`culex: ${message}\n`)
  process.exitCode = err instanceof CulexError && CONFIGURATION_ERRORS.has(err.code) ? 2 : 1
  // A worker that failed to start (a port in use): its IPC channel would keep it running and its primary waiting.
  if (cluster.isWorker) process.exit()
})
