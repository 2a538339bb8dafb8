// A Redis backend (EMQX's emqx_redis): one connection per redis_type (single, sentinel, cluster) through
// ioredis, and commands written as EMQX writes them, `HMGET mqtt_user:${username} password_hash salt`.
// The command text is split into arguments once, at start; each argument is a template rendered on its
// own and sent as one RESP bulk string, so a placeholder's value is never parsed as more arguments.
import type { Cluster, Redis, RedisOptions } from 'ioredis'
import { parseServer, REDIS_PORT, type RedisConnectionConfig } from '../../config/schema/backends.js'
import { CulexError } from '../../errors.js'
import type { Log } from '../../log.js'
import { BackendError, BackendHealth, describeNetworkError } from './health.js'
import { AUTHN_PLACEHOLDERS, compileTemplate, render, type Lookup, type Template } from './placeholders.js'
import { splitCommand } from './redis-command.js'
import { clientTlsOptions } from './tls.js'

export { splitCommand }

/** How long one command may take, connection wait included. */
export const COMMAND_TIMEOUT_MS = 5000
const CONNECT_TIMEOUT_MS = 5000

/** A command split into its name and argument templates. */
export interface RedisCommand {
  readonly name: string
  readonly args: readonly Template[]
  readonly text: string
}

/** Parses a command for the backend; `where` names the config key in errors. */
export function parseCommand (text: string, where: string, allowed: readonly string[] = AUTHN_PLACEHOLDERS): RedisCommand {
  let parts: string[]
  try {
    parts = splitCommand(text)
  } catch (err) {
    throw new CulexError('CULEX_ERR_BACKEND_CONFIG', `${where}: ${(err as Error).message} in ${JSON.stringify(text)}`)
  }
  if (parts.length === 0) throw new CulexError('CULEX_ERR_BACKEND_CONFIG', `${where}: empty command`)
  const [name, ...rest] = parts
  if (name!.includes('${')) throw new CulexError('CULEX_ERR_BACKEND_CONFIG', `${where}: the command name cannot be a placeholder`)
  return { name: name!.toLowerCase(), args: rest.map((a) => compileTemplate(a, allowed)), text }
}

export function redisConnectionOptions (config: RedisConnectionConfig, where: string): RedisOptions {
  const options: RedisOptions = {
    lazyConnect: false,
    connectTimeout: CONNECT_TIMEOUT_MS,
    commandTimeout: COMMAND_TIMEOUT_MS,
    // Commands wait for a connection being made, and fail after one attempt at making it again.
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  }
  if (config.password) options.password = config.password
  if (config.username) options.username = config.username
  if (config.redis_type !== 'cluster') options.db = config.database
  if (config.ssl.enable) {
    const first = config.redis_type === 'single' ? config.server : config.servers[0]!
    options.tls = clientTlsOptions(config.ssl, parseServer(first, REDIS_PORT)!.host, `${where}.ssl`)
  }
  return options
}

/** One Redis connection (or cluster client) for an authenticator or a source. */
export class RedisBackend {
  readonly health: BackendHealth
  /** ioredis is loaded with the first Redis backend, not with every broker. */
  readonly #client: Promise<Redis | Cluster>
  readonly #where: string
  /** Why the connection is down, from its last error event. */
  #cause: string | null = null

  constructor (config: RedisConnectionConfig, log: Log, where: string) {
    this.#where = config.redis_type === 'single' ? config.server : config.servers.join(',')
    this.health = new BackendHealth(log, { backend: where, server: this.#where, redis_type: config.redis_type })
    const options = redisConnectionOptions(config, where)
    this.#client = import('ioredis').then(({ Cluster, Redis }) => {
      let client: Redis | Cluster
      if (config.redis_type === 'single') {
        client = new Redis({ ...parseServer(config.server, REDIS_PORT)!, ...options })
      } else if (config.redis_type === 'sentinel') {
        const { db, password, username, tls, ...rest } = options
        client = new Redis({
          ...rest,
          sentinels: config.servers.map((s) => parseServer(s, 26379)!),
          name: config.sentinel,
          ...(db === undefined ? {} : { db }),
          ...(password === undefined ? {} : { password }),
          ...(username === undefined ? {} : { username }),
          ...(tls === undefined ? {} : { tls, sentinelTLS: tls, enableTLSForSentinelMode: true }),
        })
      } else {
        const { retryStrategy: _r, enableOfflineQueue, ...redisOptions } = options
        client = new Cluster(config.servers.map((s) => parseServer(s, REDIS_PORT)!), {
          redisOptions,
          enableOfflineQueue,
          clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
        })
      }
      // Connection errors are reported by the commands that meet them (health, once per cause), with this cause.
      client.on('error', (err: unknown) => { this.#cause = describeNetworkError(err, `redis ${this.#where}`) })
      client.on('ready', () => { this.#cause = null })
      return client
    })
  }

  /** Runs a command with its placeholders rendered for one client; throws BackendError on any failure. */
  async run (command: RedisCommand, lookup: Lookup): Promise<unknown> {
    const args = command.args.map((t) => render(t, lookup))
    try {
      const reply = await (await this.#client).call(command.name, ...args)
      this.health.ok()
      return reply
    } catch (err) {
      const message = (err as Error).message ?? String(err)
      let reason: string
      if (/timed? ?out/i.test(message)) {
        // A connection that keeps failing (a sentinel that knows no such master, say) says why.
        reason = `redis ${this.#where} did not answer within ${COMMAND_TIMEOUT_MS} ms${this.#cause ? ` (${this.#cause})` : ''}`
      }
      else if (/max retries|Stream isn't writeable|Connection is closed|None of startup nodes/i.test(message)) reason = this.#cause ?? `redis ${this.#where} is not reachable`
      else if ((err as { code?: string }).code) reason = describeNetworkError(err, `redis ${this.#where}`)
      else reason = `redis ${this.#where} answered ${command.name.toUpperCase()} with an error: ${message}`
      this.health.failed(reason)
      throw new BackendError(reason, { cause: err })
    }
  }

  async close (): Promise<void> {
    const client = await this.#client
    client.disconnect()
  }
}
