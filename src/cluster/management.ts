// Management changes made through one node's API, carried to every other node as control notices:
// the authenticator chains, the users of the built-in password database (also kept in the cluster
// store, <prefix>:users:<authenticator id>, for nodes that start later), managed certificate bundles (their PEM
// files travel, so each node's node.data_dir gets them) and the device-certificate registry (the CA or
// device record as it is after the change, and each device registered at its first connection: the
// other nodes refuse and drop what was deactivated). Authorization: the sources (as a whole list, file
// rules text included), the settings, cache clearing, and the built-in database's rules (also kept in
// <prefix>:authz_rules). Nodes that start later have the users and the rules, not the rest.
import { isDeepStrictEqual } from 'node:util'
import type { Authorizer, AuthzSettings } from '../auth/authz.js'
import type { StoredRule } from '../auth/authz-raw-rule.js'
import { PasswordAuthenticator } from '../auth/password.js'
import { authenticatorId, type AuthnChain, type ChainPosition } from '../auth/chain.js'
import type { UserRecord } from '../auth/users.js'
import type { CaRecord, DeviceRecord, DeviceRegistry } from '../certs/registry.js'
import { BUNDLE_FILES, type BundlePem, type BundleRef, type CertStore } from '../certs/store.js'
import type { AuthenticatorConfig, AuthzSourceConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { ClusterStore } from './store.js'

/** What the management API manages, on each node. */
export interface Managed {
  authn: AuthnChain
  authz: Authorizer
  certStore: CertStore
  registry: DeviceRegistry
}

/** A change to an authenticator chain (`listener` null: the global chain). */
export type AuthnChange =
  | { op: 'add' | 'replace', listener: string | null, config: AuthenticatorConfig }
  | { op: 'remove', listener: string | null, id: string }
  | { op: 'move', listener: string | null, id: string, position: ChainPosition }
  | { op: 'order', listener: string | null, ids: string[] }

export type ManageNotice =
  | { t: 'authn', change: AuthnChange }
  | { t: 'user', authenticator: string, userId: string, user: UserRecord | null }
  /** The bundle as it is after the change; null: deleted. */
  | { t: 'bundle', ref: BundleRef, pem: BundlePem | null }
  | { t: 'ca', serial: string, record: CaRecord | null }
  /** `ca_serial`: the device's CA (older nodes send none: a deletion then applies under every CA). */
  | { t: 'device', serial: string, ca_serial?: string, record: DeviceRecord | null }
  /** The authorization sources in order, as the sender has them after the change. */
  | { t: 'authz_sources', sources: AuthzSourceConfig[] }
  | { t: 'authz_settings', settings: AuthzSettings }
  | { t: 'authz_cache' }
  /** One rule set of the built-in database (`username:<name>`, `clientid:<id>`, `all`); null: removed. */
  | { t: 'authz_rules', key: string, rules: StoredRule[] | null }
  | { t: 'authz_purge' }

export class ManagementSync {
  readonly #managed: Managed
  readonly #store: ClusterStore
  readonly #prefix: string
  readonly #log: Log
  readonly #send: (notice: ManageNotice) => void

  constructor (managed: Managed, store: ClusterStore, prefix: string, log: Log, send: (notice: ManageNotice) => void) {
    this.#managed = managed
    this.#store = store
    this.#prefix = prefix
    this.#log = log
    this.#send = send
    managed.registry.on('registered', (device) => this.#send({ t: 'device', serial: device.serial, ca_serial: device.ca_serial, record: device }))
  }

  #usersKey (authenticator: string): string { return `${this.#prefix}:users:${authenticator}` }

  get #rulesKey (): string { return `${this.#prefix}:authz_rules` }

  /** At start: the cluster's users and authorization rules, over those of this node's files and store. */
  async load (): Promise<void> {
    for (const a of this.#managed.authn.list()) if (a instanceof PasswordAuthenticator) await this.#loadUsers(a)
    await this.#loadRules()
  }

  async #loadRules (): Promise<void> {
    const database = this.#managed.authz.sourceList.database
    if (!database) return
    const all = await this.#store.hgetall(this.#rulesKey)
    for (const [key, text] of Object.entries(all)) {
      if (!isDeepStrictEqual(database.get(key), JSON.parse(text))) await database.put(key, JSON.parse(text) as StoredRule[])
    }
  }

  async #loadUsers (authenticator: PasswordAuthenticator): Promise<void> {
    const all = await this.#store.hgetall(this.#usersKey(authenticator.id))
    const users = Object.values(all)
    if (users.length === 0) return
    await authenticator.ready
    for (const text of users) authenticator.users.set(JSON.parse(text) as UserRecord)
    await authenticator.users.save()
  }

  // ---- changes made here ----

  authnChanged (change: AuthnChange): void {
    this.#send({ t: 'authn', change })
  }

  userChanged (authenticator: string, userId: string): void {
    const db = this.#database(authenticator)
    if (!db) return
    const user = db.users.get(userId) ?? null
    const key = this.#usersKey(authenticator)
    const write = user ? this.#store.write(['hset', key, userId, JSON.stringify(user)]) : this.#store.write(['hdel', key, userId])
    write.catch((err: Error) => this.#log.warning({ authenticator, user_id: userId, err: err.message }, 'cluster: user not written to the cluster store; nodes that start later will not know'))
    this.#send({ t: 'user', authenticator, userId, user })
  }

  authzSourcesChanged (): void {
    this.#send({ t: 'authz_sources', sources: this.#managed.authz.sourceList.exportState() })
  }

  authzSettingsChanged (): void {
    this.#send({ t: 'authz_settings', settings: this.#managed.authz.settings })
  }

  authzCacheCleared (): void {
    this.#send({ t: 'authz_cache' })
  }

  authzRulesChanged (key: string): void {
    const rules = this.#managed.authz.sourceList.database?.get(key) ?? null
    const write = rules ? this.#store.write(['hset', this.#rulesKey, key, JSON.stringify(rules)]) : this.#store.write(['hdel', this.#rulesKey, key])
    write.catch((err: Error) => this.#log.warning({ rules: key, err: err.message }, 'cluster: authorization rules not written to the cluster store; nodes that start later will not know'))
    this.#send({ t: 'authz_rules', key, rules })
  }

  authzRulesPurged (): void {
    this.#store.write(['del', this.#rulesKey]).catch((err: Error) => this.#log.warning({ err: err.message }, 'cluster: authorization rules not removed from the cluster store'))
    this.#send({ t: 'authz_purge' })
  }

  async bundleChanged (ref: BundleRef): Promise<void> {
    const pem = (await this.#managed.certStore.read(ref)) ?? null
    this.#send({ t: 'bundle', ref: { name: ref.name, ...(ref.namespace ? { namespace: ref.namespace } : {}) }, pem })
  }

  caChanged (serial: string): void {
    const record = this.#managed.registry.ca(serial) ?? null
    this.#send({ t: 'ca', serial: serial.toUpperCase(), record })
  }

  deviceChanged (serial: string, caSerial: string): void {
    const record = this.#managed.registry.device(serial, caSerial) ?? null
    this.#send({ t: 'device', serial: serial.toUpperCase(), ca_serial: caSerial.toUpperCase(), record })
  }

  // ---- changes made on another node ----

  async apply (notice: ManageNotice, from: string): Promise<void> {
    switch (notice.t) {
      case 'authn': return this.#applyAuthn(notice.change, from)
      case 'user': return this.#applyUser(notice, from)
      case 'bundle': return this.#applyBundle(notice.ref, notice.pem, from)
      case 'ca':
        await this.#managed.registry.mirrorCa(notice.serial, notice.record ?? undefined)
        this.#log.notice({ serial: notice.serial, status: notice.record?.status ?? 'deleted', node: from }, 'cluster: CA certificate changed on another node')
        return
      case 'device':
        await this.#managed.registry.mirrorDevice(notice.serial, notice.record ?? undefined, notice.ca_serial)
        this.#log.notice({ serial: notice.serial, status: notice.record?.status ?? 'deleted', node: from }, 'cluster: device certificate changed on another node')
        return
      default:
        return this.#applyAuthz(notice, from)
    }
  }

  async #applyAuthz (notice: Extract<ManageNotice, { t: `authz_${string}` }>, from: string): Promise<void> {
    const authz = this.#managed.authz
    switch (notice.t) {
      case 'authz_sources':
        await authz.sourceList.applyState(notice.sources)
        this.#log.notice({ sources: notice.sources.map((s) => s.type).join(','), node: from }, 'cluster: authorization sources changed on another node')
        return
      case 'authz_settings':
        authz.setSettings(notice.settings)
        this.#log.notice({ node: from }, 'cluster: authorization settings changed on another node')
        return
      case 'authz_cache':
        authz.clearCache()
        this.#log.info({ node: from }, 'cluster: authorization cache cleared on another node')
        return
      case 'authz_rules':
        await authz.sourceList.database?.put(notice.key, notice.rules)
        this.#log.info({ rules: notice.key, node: from }, 'cluster: built-in database authorization rules changed on another node')
        return
      case 'authz_purge':
        await authz.sourceList.database?.purge()
        this.#log.notice({ node: from }, 'cluster: built-in database authorization rules purged on another node')
    }
  }

  async #applyAuthn (change: AuthnChange, from: string): Promise<void> {
    const chain = this.#managed.authn
    const listener = change.listener ?? undefined
    switch (change.op) {
      case 'add': {
        const authenticator = chain.create(change.config)
        if (chain.list(listener).some((a) => a.id === authenticator.id)) { await authenticator.close?.(); return }
        chain.add(authenticator, undefined, listener, change.config)
        if (authenticator instanceof PasswordAuthenticator) await this.#loadUsers(authenticator)
        break
      }
      case 'replace': {
        const authenticator = chain.create(change.config)
        if (!chain.replace(authenticator, listener, change.config)) chain.add(authenticator, undefined, listener, change.config)
        break
      }
      case 'remove':
        chain.remove(change.id, listener)
        break
      case 'move':
        chain.move(change.id, change.position, listener)
        break
      case 'order':
        if (chain.reorder(change.ids, listener)) {
          this.#log.warning({ order: change.ids.join(','), listener: listener ?? 'global', node: from }, 'cluster: authenticators ordered on another node, but this node\'s chain has other ones: its order stays')
          return
        }
        this.#log.notice({ order: change.ids.join(','), listener: listener ?? 'global', node: from }, 'cluster: authenticators ordered on another node')
        return
    }
    const id = 'id' in change ? change.id : authenticatorId(change.config)
    this.#log.notice({ op: change.op, authenticator: id, listener: listener ?? 'global', node: from }, 'cluster: authenticator chain changed on another node')
  }

  async #applyUser (notice: Extract<ManageNotice, { t: 'user' }>, from: string): Promise<void> {
    const db = this.#database(notice.authenticator)
    if (!db) return
    await db.ready
    if (notice.user) await db.users.put(notice.user)
    else await db.users.delete(notice.userId)
    this.#log.info({ authenticator: notice.authenticator, user_id: notice.userId, node: from }, 'cluster: authentication user changed on another node')
  }

  /** Writes the bundle as the other node has it (with a shared node.data_dir the files are already there: listeners still hear of it). */
  async #applyBundle (ref: BundleRef, pem: BundlePem | null, from: string): Promise<void> {
    const store = this.#managed.certStore
    if (!pem) {
      if (!(await store.delete(ref))) store.emit('delete', ref)
    } else {
      for (const file of BUNDLE_FILES) if (pem[file] === undefined) await store.delete(ref, file)
      if (BUNDLE_FILES.some((file) => pem[file] !== undefined)) await store.put(ref, pem)
    }
    this.#log.notice({ namespace: ref.namespace ?? 'global', bundle: ref.name, deleted: pem === null, node: from }, 'cluster: certificate bundle changed on another node')
  }

  #database (id: string): PasswordAuthenticator | undefined {
    const found = this.#managed.authn.list().find((a) => a.id === id)
    return found instanceof PasswordAuthenticator ? found : undefined
  }
}
