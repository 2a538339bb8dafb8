// The built_in_database source: rules per user name, per client id and for all clients, managed through
// /api/v5/authorization/sources/built_in_database/rules and kept in the data store (node.data_dir/store,
// LMDB), so they survive a restart. All of them are held in memory as well: a decision reads no disk. As
// EMQX, a client's rules are tried in order: its client id's, its user name's, then those for all.
import type { ClientInfo } from '../mqtt/hooks.js'
import type { KvTable } from '../store/kv.js'
import type { AclRule } from './acl-file.js'
import { rulesAnswer, rulesDenyScope } from './authz-match.js'
import { compileRule, type StoredRule } from './authz-raw-rule.js'
import type { AuthzRequest, AuthzSource, SourceAnswer, SourceEvents } from './authz-types.js'

export type RuleOwner = 'username' | 'clientid'

/** The data store table the rules live in. */
export const RULES_TABLE = 'authz_rules'

/** The store key of a rule set: `username:<name>`, `clientid:<id>`, or `all`. */
export function ruleKey (owner: RuleOwner | 'all', name = ''): string {
  return owner === 'all' ? 'all' : `${owner}:${name}`
}

interface RuleSet { stored: StoredRule[], compiled: AclRule[] }

const NONE: AclRule[] = []

export class DatabaseSource implements AuthzSource {
  readonly id = 'built_in_database'
  readonly #table: KvTable<StoredRule[]>
  readonly #events: SourceEvents | undefined
  readonly #sets = new Map<string, RuleSet>()
  #scope: string[] | 'any' | null = null

  constructor (table: KvTable<StoredRule[]>, events?: SourceEvents) {
    this.#table = table
    this.#events = events
    for (const [key, rules] of table.entries()) this.#sets.set(key, compile(key, rules))
  }

  authorize (client: ClientInfo, request: AuthzRequest): SourceAnswer {
    const sets = this.#sets
    if (sets.size === 0) return undefined
    const byClient = sets.get(`clientid:${client.clientId}`)
    const answer = byClient && rulesAnswer(byClient.compiled, client, request)
    if (answer) return answer
    const byUser = client.username === undefined ? undefined : sets.get(`username:${client.username}`)
    return (byUser && rulesAnswer(byUser.compiled, client, request)) || rulesAnswer(sets.get('all')?.compiled ?? NONE, client, request)
  }

  denyScope (): string[] | 'any' {
    if (this.#scope === null) {
      const into: string[] = []
      let scope: string[] | 'any' = into
      for (const set of this.#sets.values()) if ((scope = rulesDenyScope(set.compiled, into)) === 'any') break
      this.#scope = scope === 'any' ? 'any' : [...new Set(into)]
    }
    return this.#scope
  }

  /** The rule sets of one kind, sorted by name, with `like` in the name when given. */
  list (owner: RuleOwner, like?: string): { name: string, rules: StoredRule[] }[] {
    const prefix = `${owner}:`
    const out: { name: string, rules: StoredRule[] }[] = []
    for (const [key, set] of this.#sets) {
      if (!key.startsWith(prefix)) continue
      const name = key.slice(prefix.length)
      if (like === undefined || name.includes(like)) out.push({ name, rules: set.stored })
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  }

  get (key: string): StoredRule[] | undefined {
    return this.#sets.get(key)?.stored
  }

  get size (): number { return this.#sets.size }

  /** Sets (null: removes) one rule set, in memory at once and in the store; resolves once it is durable. */
  async put (key: string, rules: StoredRule[] | null): Promise<void> {
    this.#apply(key, rules)
    await (rules === null ? this.#table.remove(key) : this.#table.put(key, rules))
  }

  /** Removes every rule set. */
  async purge (): Promise<void> {
    const keys = [...this.#sets.keys()]
    this.#sets.clear()
    this.#changed()
    await Promise.all(keys.map((key) => this.#table.remove(key)))
  }

  #apply (key: string, rules: StoredRule[] | null): void {
    if (rules === null) this.#sets.delete(key)
    else this.#sets.set(key, compile(key, rules))
    this.#changed()
  }

  #changed (): void {
    this.#scope = null
    this.#events?.changed(this)
  }
}

function compile (key: string, rules: StoredRule[]): RuleSet {
  return { stored: rules, compiled: rules.map((rule, i) => compileRule(rule, `built_in_database ${key}[${i}]`)) }
}
