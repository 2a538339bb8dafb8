// EMQX's ban list: clients refused at CONNECT (0x8A Banned) by client id, user name or peer address,
// exact or by pattern, until a ban expires. Checked on every CONNECT, so exact bans are map look-ups.
import { BlockList, isIP } from 'node:net'

export const BAN_KINDS = ['clientid', 'username', 'peerhost', 'clientid_re', 'username_re', 'peerhost_net'] as const
export type BanKind = (typeof BAN_KINDS)[number]

export interface Ban {
  as: BanKind
  who: string
  by: string
  reason: string
  /** Epoch milliseconds. */
  at: number
  until: number
}

/** What a ban is checked against: the identifiers CONNECT settled on (after peer_cert_as_*) and the peer. */
export interface BanSubject {
  clientId: string
  username: string | undefined
  remoteAddress: string
}

interface PatternBan { ban: Ban, test: (subject: BanSubject) => boolean }

type ExactKind = 'clientid' | 'username' | 'peerhost'

/** `::ffff:10.0.0.1` (an IPv4 peer on a dual-stack socket) is 10.0.0.1. */
export function plainAddress (address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address
}

/** Why `who` cannot be banned as `as`, or null when it can. */
export function banTargetError (as: BanKind, who: string): string | null {
  if (who === '') return 'who must not be empty'
  switch (as) {
    case 'peerhost': return isIP(who) ? null : `${JSON.stringify(who)} is not an IP address`
    case 'peerhost_net': return parseNet(who) ? null : `${JSON.stringify(who)} is not a CIDR network such as 10.0.0.0/8`
    case 'clientid_re':
    case 'username_re':
      try { new RegExp(who); return null } catch (err) { return `${JSON.stringify(who)} is not a regular expression: ${(err as Error).message}` }
    default: return null
  }
}

function parseNet (who: string): BlockList | null {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(who)
  const family = m ? isIP(m[1]!) : 0
  if (!m || family === 0 || Number(m[2]) > (family === 4 ? 32 : 128)) return null
  const list = new BlockList()
  list.addSubnet(m[1]!, Number(m[2]), family === 4 ? 'ipv4' : 'ipv6')
  return list
}

function patternTest (ban: Ban): (subject: BanSubject) => boolean {
  if (ban.as === 'peerhost_net') {
    const net = parseNet(ban.who)!
    return (s) => {
      const address = plainAddress(s.remoteAddress)
      const family = isIP(address)
      return family !== 0 && net.check(address, family === 4 ? 'ipv4' : 'ipv6')
    }
  }
  const re = new RegExp(ban.who)
  return ban.as === 'clientid_re' ? (s) => re.test(s.clientId) : (s) => s.username !== undefined && re.test(s.username)
}

export class BanList {
  readonly #exact: Record<ExactKind, Map<string, Ban>> = { clientid: new Map(), username: new Map(), peerhost: new Map() }
  readonly #patterns = new Map<string, PatternBan>()

  get size (): number {
    return this.#exact.clientid.size + this.#exact.username.size + this.#exact.peerhost.size + this.#patterns.size
  }

  /** The ban on exactly that target, if any and not expired. */
  get (as: BanKind, who: string, now = Date.now()): Ban | undefined {
    const ban = isExact(as) ? this.#exact[as].get(key(as, who)) : this.#patterns.get(`${as}:${who}`)?.ban
    return ban && ban.until > now ? ban : undefined
  }

  /** Adds or replaces a ban; the target must pass banTargetError. */
  add (ban: Ban): void {
    if (isExact(ban.as)) this.#exact[ban.as].set(key(ban.as, ban.who), ban)
    else this.#patterns.set(`${ban.as}:${ban.who}`, { ban, test: patternTest(ban) })
  }

  remove (as: BanKind, who: string): boolean {
    return isExact(as) ? this.#exact[as].delete(key(as, who)) : this.#patterns.delete(`${as}:${who}`)
  }

  clear (): void {
    for (const map of Object.values(this.#exact)) map.clear()
    this.#patterns.clear()
  }

  /** Every ban still in force, oldest first; expired ones are dropped on the way. */
  list (now = Date.now()): Ban[] {
    this.#expire(now)
    const all = [...this.#exact.clientid.values(), ...this.#exact.username.values(), ...this.#exact.peerhost.values(),
      ...[...this.#patterns.values()].map((p) => p.ban)]
    return all.sort((a, b) => a.at - b.at)
  }

  /** The ban that covers this client, if any. */
  check (subject: BanSubject, now = Date.now()): Ban | undefined {
    if (this.size === 0) return undefined
    const exact = this.#exact
    const found = exact.clientid.get(subject.clientId) ??
      (subject.username !== undefined ? exact.username.get(subject.username) : undefined) ??
      exact.peerhost.get(plainAddress(subject.remoteAddress))
    if (found) {
      if (found.until > now) return found
      this.remove(found.as, found.who)
      return this.check(subject, now)
    }
    for (const p of this.#patterns.values()) {
      if (p.ban.until > now && p.test(subject)) return p.ban
    }
    return undefined
  }

  #expire (now: number): void {
    for (const map of Object.values(this.#exact)) for (const [k, ban] of map) if (ban.until <= now) map.delete(k)
    for (const [k, p] of this.#patterns) if (p.ban.until <= now) this.#patterns.delete(k)
  }
}

function isExact (as: BanKind): as is ExactKind {
  return as === 'clientid' || as === 'username' || as === 'peerhost'
}

function key (as: BanKind, who: string): string {
  return as === 'peerhost' ? plainAddress(who) : who
}

/** Whether the ban covers the subject (ignoring expiry). */
export function banCovers (ban: Ban, subject: BanSubject): boolean {
  switch (ban.as) {
    case 'clientid': return subject.clientId === ban.who
    case 'username': return subject.username === ban.who
    case 'peerhost': return plainAddress(subject.remoteAddress) === plainAddress(ban.who)
    default: return patternTest(ban)(subject)
  }
}
