// A listener's access_rules (EMQX/esockd semantics): the first rule whose network holds the peer's address
// decides; an address no rule matches is allowed.
import { BlockList } from 'node:net'
import type { AccessRule } from '../config/access-rules.js'

interface Compiled { rule: AccessRule, block: BlockList | null }

export class AccessRules {
  readonly #rules: Compiled[]

  /** Returns null when the rules allow everyone (none, or an "allow all" first): nothing to check. */
  static create (rules: AccessRule[]): AccessRules | null {
    if (rules.length === 0 || (rules[0]!.allow && rules[0]!.net === null)) return null
    return new AccessRules(rules)
  }

  constructor (rules: AccessRule[]) {
    this.#rules = rules.map((rule) => {
      if (rule.net === null) return { rule, block: null }
      const block = new BlockList()
      block.addSubnet(rule.net.address, rule.net.prefix, rule.net.family)
      return { rule, block }
    })
  }

  /** The rule that refuses this address, or null when it may connect. */
  refuses (address: string | undefined): AccessRule | null {
    // IPv4 clients of a dual-stack listener arrive as ::ffff:a.b.c.d.
    const plain = address?.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address ?? ''
    const family = plain.includes(':') ? 'ipv6' : 'ipv4'
    for (const { rule, block } of this.#rules) {
      if (block === null || (plain !== '' && block.check(plain, family))) return rule.allow ? null : rule
    }
    return null
  }
}
