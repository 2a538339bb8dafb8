// EMQX listener access_rules: "allow 10.0.0.0/8", "deny 192.168.1.7", "deny all"; an entry may hold several
// rules separated by commas ("allow 10.0.0.0/8, deny all"), as EMQX's converter splits them.
import { isIPv4, isIPv6 } from 'node:net'

/** One parsed rule, plain data (the listener builds its matcher from it). */
export interface AccessRule {
  allow: boolean
  /** `null` for `all`. */
  net: { address: string, prefix: number, family: 'ipv4' | 'ipv6' } | null
  /** The rule as written, for logs. */
  text: string
}

/** Parses one rule, or returns undefined when it is not `allow|deny all|ADDRESS[/PREFIX]`. */
export function parseAccessRule (text: string): AccessRule | undefined {
  const words = text.trim().split(/\s+/)
  if (words.length !== 2 || (words[0] !== 'allow' && words[0] !== 'deny')) return undefined
  const allow = words[0] === 'allow'
  const target = words[1]!
  if (target === 'all') return { allow, net: null, text: `${words[0]} all` }
  const [address = '', prefixText, extra] = target.split('/')
  if (extra !== undefined) return undefined
  const family = isIPv4(address) ? 'ipv4' : isIPv6(address) ? 'ipv6' : undefined
  if (!family) return undefined
  const max = family === 'ipv4' ? 32 : 128
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined
  const prefix = prefixText === undefined ? max : Number(prefixText)
  if (prefix > max) return undefined
  return { allow, net: { address, prefix, family }, text: `${words[0]} ${target}` }
}

/** Every entry split at commas, trimmed, empty pieces dropped (EMQX's converter). */
export function splitAccessRules (entries: string[]): string[] {
  return entries.flatMap((e) => e.split(',')).map((s) => s.trim()).filter(Boolean)
}
