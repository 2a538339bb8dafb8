// The authorization sources in their order, as configured and as changed at runtime (the management API,
// another node of the cluster): each is built from its config entry, and a change replaces the list that
// decisions walk, never the one a decision in flight is walking.
import { isDeepStrictEqual } from 'node:util'
import type { AuthzSourceConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { KvTable } from '../store/kv.js'
import { HttpSource, PostgresqlSource, RedisSource } from './authz-backends.js'
import { DatabaseSource } from './authz-database.js'
import { FileSource, managedAclPath, writeAclFile } from './authz-file.js'
import type { StoredRule } from './authz-raw-rule.js'
import type { AuthzSource, SourceEvents } from './authz-types.js'
import { orderProblem, type OrderProblem } from './order.js'

/** What one source answered, for culex_authz_total and the status endpoint. */
export interface SourceCounts { allow: number, deny: number, nomatch: number, error: number }

export const newCounts = (): SourceCounts => ({ allow: 0, deny: 0, nomatch: 0, error: 0 })

export type SourcePosition = 'front' | 'rear' | { before: string } | { after: string }

export interface SourceEntry {
  /** The type (configured sources) or the id (library sources). */
  readonly id: string
  /** null: added by library code (not managed through the API). */
  readonly config: AuthzSourceConfig | null
  /** null: disabled. */
  readonly source: AuthzSource | null
  readonly counts: SourceCounts
  /** Since when the source fails (throws, rejects, times out), for the log; null while it answers. */
  failure: { since: number, count: number, logged: number, quiet: boolean } | null
  /** Answered a read check with a promise: asked only at PUBLISH and SUBSCRIBE from then on. */
  asynchronous: boolean
}

export interface SourceListOptions {
  log: Log
  dataDir: string
  /** The built-in database's table (the data store's, or one in memory). */
  rulesTable: () => KvTable<StoredRule[]>
  /** Counters by source id, kept across a source's replacement. */
  counts: (id: string) => SourceCounts
  /** A source's rules changed, or the list did: cached decisions go, read scopes are recomputed. */
  changed: () => void
}

/** A source of a type other than built_in_database (the one instance SourceList keeps). */
function createSource (config: Exclude<AuthzSourceConfig, { type: 'built_in_database' }>, where: string, log: Log, events: SourceEvents): AuthzSource {
  switch (config.type) {
    case 'file': return FileSource.load(config, where, log, events)
    case 'http': return new HttpSource(config, log, where)
    case 'redis': return new RedisSource(config, log, where)
    case 'postgresql': return new PostgresqlSource(config, log, where)
  }
}

export class SourceList {
  /** The enabled sources in order: what decisions walk. Replaced, never changed in place. */
  asked: readonly SourceEntry[] = []
  #entries: SourceEntry[] = []
  #database: DatabaseSource | null = null
  #watching = false
  readonly #opts: SourceListOptions
  readonly #events: SourceEvents

  constructor (opts: SourceListOptions) {
    this.#opts = opts
    this.#events = { changed: () => opts.changed() }
  }

  /** The configured sources at start; throws (CULEX_ERR_ACL_PARSE) on a file that cannot be used. */
  load (configs: AuthzSourceConfig[]): void {
    this.#entries = configs.map((config, i) => this.#build(config, `authorization.sources[${i}]`))
    this.#commit()
  }

  /** The built-in database, while a built_in_database source is configured (enabled or not). */
  get database (): DatabaseSource | null { return this.#database }

  /** Where rules text set through the API is written. */
  get managedPath (): string { return managedAclPath(this.#opts.dataDir) }

  /** The configured sources in order (library ones left out). */
  configured (): SourceEntry[] {
    return this.#entries.filter((e) => e.config !== null)
  }

  find (type: string): SourceEntry | undefined {
    return this.#entries.find((e) => e.config !== null && e.id === type)
  }

  /** A library source, asked after those before it. */
  addSource (source: AuthzSource): void {
    this.#entries.push(this.#entry(source.id, null, source))
    this.#commit()
  }

  /**
   * A source from an API body or another node: file rules text is written to node.data_dir/authz/acl.conf
   * first (refused with CULEX_ERR_ACL_PARSE, line and column, when it has an error). Returns the config in force.
   */
  async materialize (config: AuthzSourceConfig): Promise<AuthzSourceConfig> {
    if (config.type !== 'file' || config.rules === undefined) return config
    const path = this.managedPath
    await writeAclFile(path, config.rules)
    return { type: 'file', enable: config.enable, path }
  }

  /** Adds a source at `position` (the API's POST: the front). */
  add (config: AuthzSourceConfig, position: SourcePosition = 'front'): void {
    const entry = this.#build(config, `source ${config.type}`)
    this.#entries.splice(this.#index(position), 0, entry)
    this.#commit()
  }

  /** Replaces the source of that type in its place; false when there is none. */
  replace (config: AuthzSourceConfig): boolean {
    const at = this.#entries.findIndex((e) => e.config !== null && e.id === config.type)
    if (at < 0) return false
    const entry = this.#build(config, `source ${config.type}`, this.#entries[at])
    this.#retire(this.#entries[at]!, entry)
    this.#entries[at] = entry
    this.#commit()
    return true
  }

  /** Removes the source of that type (the built-in database's rules with it, as EMQX does); false when there is none. */
  async remove (type: string): Promise<boolean> {
    const at = this.#entries.findIndex((e) => e.config !== null && e.id === type)
    if (at < 0) return false
    const [gone] = this.#entries.splice(at, 1)
    this.#retire(gone!, undefined)
    if (type === 'built_in_database' && this.#database) {
      const database = this.#database
      this.#database = null
      await database.purge()
    }
    this.#commit()
    return true
  }

  /** Moves a source; false when it, or the one it is placed against, does not exist. */
  move (type: string, position: SourcePosition): boolean {
    const at = this.#entries.findIndex((e) => e.config !== null && e.id === type)
    const ref = typeof position === 'object' ? ('before' in position ? position.before : position.after) : undefined
    if (at < 0 || (ref !== undefined && !this.find(ref))) return false
    if (ref === type) return true
    const [moving] = this.#entries.splice(at, 1)
    this.#entries.splice(this.#index(position), 0, moving!)
    this.#commit()
    return true
  }

  /**
   * Puts the configured sources in this order of types, which must name each exactly once; library sources
   * keep their places. Returns what is wrong with the list instead, changing nothing.
   */
  reorder (types: readonly string[]): OrderProblem | null {
    const problem = orderProblem(this.configured().map((e) => e.id), types)
    if (problem) return problem
    const ordered = types.map((type) => this.find(type)!)
    this.#entries = this.#entries.map((e) => (e.config === null ? e : ordered.shift()!))
    this.#commit()
    return null
  }

  /** The configured sources as other nodes rebuild them: rules text set through the API travels as text. */
  exportState (): AuthzSourceConfig[] {
    const managed = this.managedPath
    return this.configured().map((e) => {
      const config = e.config!
      if (config.type === 'file' && config.rules === undefined && config.path === managed && e.source instanceof FileSource) {
        return { type: 'file', enable: config.enable, path: config.path, rules: e.source.text }
      }
      return config
    })
  }

  /** Rebuilds the configured sources as another node has them, keeping the ones whose config is unchanged. */
  async applyState (configs: AuthzSourceConfig[]): Promise<void> {
    const wanted = await Promise.all(configs.map((c) => this.materialize(c)))
    const library = this.#entries.filter((e) => e.config === null)
    const entries: SourceEntry[] = []
    for (const config of wanted) {
      const old = this.find(config.type)
      if (old && isDeepStrictEqual(old.config, config)) {
        // The same managed file, written again: its rules are read again.
        if (config.type === 'file') old.source?.reload?.('changed on another node')
        entries.push(old)
        continue
      }
      entries.push(this.#build(config, `source ${config.type}`, old))
    }
    for (const old of this.configured()) if (!entries.includes(old)) this.#retire(old, entries.find((e) => e.id === old.id))
    if (!wanted.some((c) => c.type === 'built_in_database') && this.#database) {
      const database = this.#database
      this.#database = null
      await database.purge()
    }
    this.#entries = [...entries, ...library]
    this.#commit()
  }

  /** Reads the file sources again (SIGHUP); how many reloaded. */
  reload (why: string): number {
    let count = 0
    for (const e of this.#entries) if (e.source?.reload?.(why)) count++
    return count
  }

  /** Starts watching files (sources added later are watched as they come). */
  watch (): void {
    this.#watching = true
    for (const e of this.#entries) e.source?.watch?.()
  }

  async close (): Promise<void> {
    this.#watching = false
    await Promise.all(this.#entries.map((e) => e.source?.close?.()))
  }

  #index (position: SourcePosition): number {
    if (position === 'front') return 0
    if (position === 'rear') return this.#entries.length
    const ref = 'before' in position ? position.before : position.after
    const at = this.#entries.findIndex((e) => e.config !== null && e.id === ref)
    return at < 0 ? this.#entries.length : at + ('after' in position ? 1 : 0)
  }

  /** Builds a source (throws on a file that cannot be used); `old`, the entry it replaces, lends its failure state. */
  #build (config: AuthzSourceConfig, where: string, old?: SourceEntry): SourceEntry {
    let source: AuthzSource | null = null
    if (config.type === 'built_in_database') {
      // Kept while configured, enabled or not: its rules are managed either way.
      this.#database ??= new DatabaseSource(this.#opts.rulesTable(), this.#events)
      source = config.enable ? this.#database : null
    } else if (config.enable) {
      source = createSource(config, where, this.#opts.log, this.#events)
    }
    if (this.#watching) source?.watch?.()
    const entry = this.#entry(config.type, config, source)
    if (old && old.source === source) entry.failure = old.failure
    return entry
  }

  #entry (id: string, config: AuthzSourceConfig | null, source: AuthzSource | null): SourceEntry {
    return { id, config, source, counts: this.#opts.counts(id), failure: null, asynchronous: false }
  }

  /** Closes a source that goes, unless its replacement is the same object (the built-in database). */
  #retire (old: SourceEntry, next: SourceEntry | undefined): void {
    if (old.source && old.source !== next?.source && old.source !== this.#database) void old.source.close?.()
  }

  #commit (): void {
    this.asked = this.#entries.filter((e) => e.source !== null)
    this.#opts.changed()
  }
}
