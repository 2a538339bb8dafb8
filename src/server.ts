// The embeddable broker: configuration, logger, MQTT core, $SYS and listeners, started and stopped in order.
import type { Message } from './mqtt/message.js'
import { loadApiKeys, type ApiKeys } from './api/auth.js'
import type { ManagementApi } from './api/index.js'
import { loadDashboardUsers } from './api/dashboard/bootstrap.js'
import type { DashboardUsers } from './api/dashboard/users.js'
import type { PushGateway } from './api/prometheus-push.js'
import { DeviceRegistry } from './certs/registry.js'
import { CertStore } from './certs/store.js'
import type { Cluster } from './cluster/cluster.js'
import type { HostBus } from './cluster/host/host-bus.js'
import { refuseWorkersWithRedis, workerName } from './cluster/host/protocol.js'
import type { PeerBus } from './cluster/peer-bus.js'
import { loadConfig, type LoadedConfig } from './config/load.js'
import { keysWithoutEffect } from './config/notices.js'
import type { CulexConfig } from './config/schema.js'
import type { CrlCache } from './listeners/crl-cache.js'
import { describeListener } from './listeners/describe.js'
import { createListeners, type Listener } from './listeners/index.js'
import type { PeerCheckFactory } from './listeners/tls-front.js'
import { PskTable } from './listeners/psk.js'
import { createLog, type Log } from './log.js'
import { Core } from './mqtt/core.js'
import { Metrics } from './mqtt/metrics.js'
import { Hooks, type HookMap, type HookName } from './mqtt/hooks.js'
import { AuthnChain } from './auth/chain.js'
import { Authorizer } from './auth/authz.js'
import { createMessage, type PublishProperties } from './mqtt/message.js'
import { CulexError } from './errors.js'
import type { MessageBus } from './mqtt/bus.js'
import type { RetainedStore, SessionStore } from './mqtt/store/index.js'
import { OsMonitor } from './mqtt/os-monitor.js'
import { SysPublisher } from './mqtt/sys.js'
import { SysEvents } from './mqtt/sys-events.js'
import { warmLengthCache } from './mqtt/encode-cache.js'
import { openKvStore, type KvStore } from './store/kv.js'
import { SessionJournal } from './mqtt/store/journal.js'
import { VERSION } from './version.js'

export interface BrokerOptions {
  /** HOCON text or a config object (EMQX keys). */
  config?: string | Record<string, unknown>
  /** A HOCON file; takes precedence over `config`. */
  configFile?: string
  /** Environment for EMQX_/CULEX_ overrides; the library ignores process.env unless given it. */
  env?: Record<string, string | undefined>
  /** A pino logger to use instead of the one `log` configures. */
  logger?: Log
  /** Storage and routing back-ends; in-memory and in-process by default. */
  sessions?: SessionStore
  retained?: RetainedStore
  bus?: MessageBus
  /** Hooks to install before the listeners open. */
  hooks?: { [K in HookName]?: HookMap[K] | HookMap[K][] }
  /** Set by `culex start` in the processes it forks for node.workers: this one's slot (1-based). */
  worker?: number
  /** A configuration loadConfig already read (`culex start`), used instead of reading it again. */
  loaded?: LoadedConfig
}

export interface PublishOptions {
  qos?: 0 | 1 | 2
  retain?: boolean
  properties?: PublishProperties
}

export class Broker {
  readonly config: CulexConfig
  readonly log: Log
  readonly hooks = new Hooks()
  readonly core: Core
  readonly listeners: Listener[]
  /** Managed certificate bundles under node.data_dir/certs. */
  readonly certStore: CertStore
  /** CRLs fetched from client certificates' distribution points (ssl_options.enable_crl_check). */
  /** CRLs of client certificates' distribution points, when an ssl listener has enable_crl_check. */
  crlCache: CrlCache | null = null
  /** The data store (durable_storage.backend) in node.data_dir/store. */
  readonly store: KvStore
  /** The device-certificate registry (seed 001), in the data store. */
  readonly registry: DeviceRegistry
  /** The authenticator chains (global and per listener); `add`, `remove`, `list` change them at runtime. */
  readonly authn: AuthnChain
  /** Authorization (token ACL, acl.conf sources, no_match), installed as the authorize hooks. */
  readonly authz: Authorizer
  readonly version = VERSION
  /** This node's cluster (cluster.backend = redis, or a node.workers worker) once started, else null. */
  cluster: Cluster | null = null
  /** The management HTTP API once started (dashboard.listeners.http), else null. */
  api: ManagementApi | null = null
  readonly #sys: SysPublisher
  /** sysmon.os: high_cpu_usage and high_system_memory_usage. */
  readonly #osMonitor: OsMonitor
  readonly #events: SysEvents
  /** prometheus.push_gateway when enabled, once started. */
  #push: PushGateway | null = null
  #started = false
  readonly #clustered: boolean
  readonly #worker: number | undefined
  #hostBus: HostBus | null = null
  /** Shared with the ssl listeners, which read it when they start. */
  readonly #peerChecks: PeerCheckFactory[] = []

  constructor (opts: BrokerOptions = {}) {
    const loaded = opts.loaded ?? loadConfig({ file: opts.configFile, config: opts.config, env: opts.env ?? {}, embedded: true })
    this.config = loaded.config
    const log = opts.logger ?? createLog(this.config.log)
    // A node.workers worker's lines say which worker wrote them.
    this.log = opts.worker === undefined ? log : log.child({ worker: opts.worker })
    for (const name of loaded.overrides) this.log.info({ variable: name }, 'configuration overridden from the environment')
    for (const name of loaded.ignored) this.log.warning({ variable: name }, 'environment variable ignored: its first key is not a configuration section')
    // Once per host: node.workers' workers read the same file.
    if ((opts.worker ?? 1) === 1) for (const key of keysWithoutEffect(loaded.origins)) this.log.notice({ key: key.path }, key.line)
    for (const [name, fns] of Object.entries(opts.hooks ?? {})) {
      for (const fn of Array.isArray(fns) ? fns : [fns]) this.hooks.add(name as HookName, fn as never)
    }
    this.hooks.onObserverError = (name, err) => this.log.error({ err, hook: name }, `a ${name} hook threw; the broker and the other hooks go on`)
    this.authn = new AuthnChain(this.hooks, this.log)
    this.authn.configure(this.config)
    this.#worker = opts.worker
    if (opts.worker !== undefined) {
      refuseWorkersWithRedis(this.config)
      this.config.node.name = workerName(this.config.node.name, opts.worker)
    }
    this.store = openKvStore(this.config.durable_storage.backend, this.config.node.data_dir, opts.worker === undefined ? 'store' : `store-w${opts.worker}`)
    const metrics = new Metrics()
    const onStoreError = (err: Error, what: string) => {
      metrics.storeErrors++
      this.log.error({ err }, `data store failed ${what}: ${err.message}; the broker goes on, without this change on disk`)
    }
    const journal = this.store.backend === 'lmdb' ? new SessionJournal(this.store, onStoreError) : undefined
    const clustered = this.config.cluster.backend === 'redis'
    if (clustered && opts.bus) this.log.warning('cluster.backend = redis ignored: the broker was given its own message bus (BrokerOptions.bus)')
    this.#clustered = clustered && !opts.bus
    this.core = new Core({ config: this.config, log: this.log, hooks: this.hooks, sessions: opts.sessions, retained: opts.retained, bus: opts.bus, journal, metrics,
      delayedTable: this.store.backend === 'lmdb' ? this.store.table('delayed') : undefined,
    })
    // A flapping client's ban reaches the other nodes as one made through the API does.
    this.core.flapping.banned = (ban) => this.cluster?.banAdded(ban)
    this.authz = new Authorizer(this.config.authorization, this.log, (client) => {
      const conn = this.core.clients.get(client.clientId)
      return conn?.client === client ? conn.mountpoint : ''
    }, { store: this.store, dataDir: this.config.node.data_dir })
    this.authz.install(this.hooks)
    this.certStore = new CertStore(this.config.node.data_dir)
    this.registry = new DeviceRegistry(this.store, onStoreError)
    this.listeners = createListeners(this.core, this.config.listeners, { certStore: this.certStore, psk: PskTable.load(this.config.psk_authentication), peerChecks: this.#peerChecks, registry: this.registry })
    this.#sys = new SysPublisher(this.core, VERSION)
    this.#events = new SysEvents(this.core)
    this.#events.start()
    this.#osMonitor = new OsMonitor(this.config.sysmon.os, this.core.alarms)
  }

  /**
   * The parts only some configurations use, loaded on demand so that a broker without them starts fast:
   * the Redis cluster (ioredis) and the CRL cache (@peculiar/x509).
   */
  async #loadOptional (): Promise<void> {
    if (this.#clustered || this.#worker !== undefined) {
      const { Cluster, createRedisBus } = await import('./cluster/cluster.js')
      let bus: PeerBus
      if (this.#worker === undefined) {
        bus = createRedisBus(this.config, this.log)
      } else {
        const { HostBus } = await import('./cluster/host/host-bus.js')
        bus = this.#hostBus = new HostBus(this.config.cluster.redis.key_prefix, this.config.node.name, this.log)
      }
      this.core.useBus(bus)
      this.cluster = new Cluster(this.core, bus, this.config.cluster, this.log)
      this.cluster.manage({ authn: this.authn, authz: this.authz, certStore: this.certStore, registry: this.registry })
    }
    if (Object.values(this.config.listeners.ssl).some((l) => l.enable && l.ssl_options.enable_crl_check)) {
      const { CrlCache } = await import('./listeners/crl-cache.js')
      this.crlCache = new CrlCache(this.config.crl_cache, this.log)
      this.#peerChecks.push(this.crlCache.peerCheck)
    }
  }

  async start (): Promise<this> {
    if (this.#started) return this
    this.#started = true
    const started: Listener[] = []
    let apiKeys: ApiKeys | null = null
    let dashboardUsers: DashboardUsers | null = null
    try {
      await this.#loadOptional()
      // The cluster's retained messages and bans are in place before the first client connects.
      await this.cluster?.start()
      await this.#importBans()
      // A bad key file stops start-up before any port opens.
      if (this.config.dashboard.listeners.http.enable) {
        apiKeys = await loadApiKeys(this.config.api_key.bootstrap_file)
        dashboardUsers = await loadDashboardUsers(this.config, this.log)
      }
      for (const listener of this.listeners) {
        if (!listener.enabled) continue
        await listener.start()
        started.push(listener)
        const a = listener.address()!
        const config = (this.config.listeners as Record<string, Record<string, Parameters<typeof describeListener>[2]>>)[listener.type]![listener.name]!
        this.log.notice({ listener: listener.id }, describeListener(listener.id, a, config))
      }
    } catch (err) {
      await Promise.all(started.map((l) => l.stop()))
      await this.core.close()
      await this.cluster?.stop()
      await this.store.close()
      throw err
    }
    this.#sys.start()
    this.#osMonitor.start()
    this.authz.start()
    warmLengthCache()
    if (apiKeys && dashboardUsers) await this.#startApi(apiKeys, dashboardUsers)
    await this.#startPush()
    this.#hostBus?.listening()
    return this
  }

  /**
   * banned.bootstrap_file, as EMQX: imported only while there is no ban (a cluster that has bans keeps
   * them); rows that are no ban are logged and skipped, an unreadable file stops start-up.
   */
  async #importBans (): Promise<void> {
    const file = this.config.banned.bootstrap_file
    if (!file) return
    if (this.core.banned.size > 0) {
      this.log.info({ file, bans: this.core.banned.size }, 'banned.bootstrap_file not imported: the cluster already has bans')
      return
    }
    const { loadBanCsv } = await import('./mqtt/banned-csv.js')
    const { bans, skipped } = await loadBanCsv(file)
    for (const { line, why } of skipped) this.log.warning({ file, line }, `banned.bootstrap_file ${file}:${line}: row skipped: ${why}`)
    for (const ban of bans) {
      this.core.banned.add(ban)
      this.cluster?.banAdded(ban)
    }
    this.log.notice({ file, imported: bans.length, skipped: skipped.length }, `banned.bootstrap_file: ${bans.length} ban${bans.length === 1 ? '' : 's'} imported`)
  }

  async #startApi (keys: ApiKeys, users: DashboardUsers): Promise<void> {
    // Loaded on demand: a broker without the API never loads fastify.
    const { startApi } = await import('./api/index.js')
    try {
      this.api = await startApi(this, keys, users)
    } catch (err) {
      // As EMQX: the MQTT service runs on when the management listener cannot bind.
      if (!(err instanceof CulexError && err.code === 'CULEX_ERR_LISTEN')) {
        await this.close()
        throw err
      }
      this.log.error({ code: err.code }, `${err.message}; running without the management API`)
    }
  }

  /** prometheus.push_gateway: loaded only when it pushes (it reads the metrics as the API does). */
  async #startPush (): Promise<void> {
    const p = this.config.prometheus
    if (!p.push_gateway.enable && p.enable !== true) return
    const { PushGateway, pushGatewayOptions } = await import('./api/prometheus-push.js')
    const options = pushGatewayOptions(this.config, (message) => this.log.warning(message))
    if (!options) return
    this.#push = new PushGateway(this, options)
    this.#push.start()
  }

  /** The management API's bound port; throws when it is not running. */
  apiPort (): number {
    if (!this.api) throw new CulexError('CULEX_ERR_NOT_RUNNING', 'the management API is not running')
    return this.api.address().port
  }

  /** The listener of that type and name (`tcp`, `default` when not given). */
  listener (type = 'tcp', name = 'default'): Listener | undefined {
    return this.listeners.find((l) => l.type === type && l.name === name)
  }

  /** The bound port of a running listener (`api`: the management API's); throws when it is not running. */
  port (type = 'tcp', name = 'default'): number {
    if (type === 'api') return this.apiPort()
    const a = this.listener(type, name)?.address()
    if (!a) throw new CulexError('CULEX_ERR_NOT_RUNNING', `listener ${type}:${name} is not running`)
    return a.port
  }

  /** Re-reads the TLS files of every running ssl and wss listener; returns how many reloaded. */
  reloadTls (why = 'reload'): number {
    let count = 0
    for (const listener of this.listeners) {
      if (listener.running && 'reloadTls' in listener && (listener as { reloadTls (why: string): boolean }).reloadTls(why)) count++
    }
    return count
  }

  /** SIGHUP: re-reads the TLS files of the ssl and wss listeners and the acl.conf files of the file sources. */
  reload (why = 'SIGHUP'): void {
    this.reloadTls(why)
    this.authz.reload(why)
  }

  addHook<K extends HookName> (name: K, fn: HookMap[K]): this {
    this.hooks.add(name, fn)
    return this
  }

  /** Publishes as the broker itself (no client; authorization hooks are not asked). */
  publish (topic: string, payload: string | Buffer, opts: PublishOptions = {}): Message {
    const message = createMessage(topic, typeof payload === 'string' ? Buffer.from(payload) : payload,
      opts.qos ?? 0, opts.retain ?? false, opts.properties)
    this.core.publish(message, null)
    return message
  }

  /** Stops accepting, delivers the wills shutdown triggers, sends DISCONNECT 0x8B, closes listeners. */
  async close (): Promise<void> {
    this.#sys.stop()
    this.#osMonitor.stop()
    await this.#push?.stop()
    this.#push = null
    const api = this.api
    this.api = null
    await api?.close()
    await this.core.close()
    this.#events.stop()
    await this.cluster?.stop()
    await Promise.all(this.listeners.map((l) => l.stop(1000)))
    this.crlCache?.close()
    await this.authn.close()
    await this.authz.close()
    // Message writes the journal still holds (sessions that ended as the listeners closed) go first.
    await this.core.journal?.close()
    await this.store.close()
    this.log.info('broker stopped')
    this.log.flush?.()
  }
}

/** Creates and starts a broker. */
export async function createBroker (opts: BrokerOptions = {}): Promise<Broker> {
  return new Broker(opts).start()
}
