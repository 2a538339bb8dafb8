// Which member of a `$share` group gets a message: mqtt.shared_subscription_strategy applied over the
// members whose client is online, else the next offline member (its session keeps the message).
import type { Message } from './message.js'
import type { Session } from './session.js'
import type { SharedGroup, Subscription } from './topic-tree.js'

export type ShareStrategy = 'round_robin' | 'round_robin_per_group' | 'random' | 'local' | 'sticky' | 'hash_clientid' | 'hash_topic'

/** mqtt.shared_subscription_initial_sticky_pick: how `sticky` picks a member when it has none online. */
export type InitialStickyPick = 'random' | 'local' | 'hash_topic' | 'hash_clientid'

/**
 * The member to deliver to (not `exclude`, a member that is leaving); undefined when there is none.
 * `initial`: the sticky strategy's pick when the group has no sticky member, or it is offline or leaving.
 */
export function pickMember (group: SharedGroup<Session>, message: Message, strategy: ShareStrategy, exclude?: Session, initial: InitialStickyPick = 'random'): Subscription<Session> | undefined {
  const members = group.members
  const n = members.length
  if (n === 0) return undefined
  const online = (m: Subscription<Session>) => m.subscriber.link !== null && m.subscriber !== exclude
  switch (strategy) {
    // Every member of a node's group is local to it (across a cluster src/cluster/shared.ts picks the node).
    case 'local':
    case 'random': {
      const candidates = members.filter(online)
      if (candidates.length > 0) return candidates[Math.floor(Math.random() * candidates.length)]
      break
    }
    case 'hash_clientid':
    case 'hash_topic': {
      const pick = members[hash(strategy === 'hash_topic' ? message.topic : (message.origin ?? '')) % n]!
      if (online(pick)) return pick
      break
    }
    case 'sticky': {
      const last = group.sticky
      if (last !== null && online(last)) return last
      // EMQX: the first pick, and the pick after the sticky member went, over the members online.
      const candidates = members.filter(online)
      if (candidates.length === 0) break
      const pick = candidates[initialTurn(initial, message, candidates.length)]!
      group.sticky = pick
      return pick
    }
  }
  if (strategy !== 'sticky') {
    for (let k = 0; k < n; k++) {
      const idx = (group.next + k) % n
      if (online(members[idx]!)) {
        group.next = idx + 1
        return members[idx]
      }
    }
  }
  // Nobody online: queue on the next member (its session keeps it until it returns or expires).
  const offline = members.filter((m) => m.subscriber !== exclude)
  if (offline.length === 0) return undefined
  return offline[group.next++ % offline.length]
}

/**
 * Which of `count` candidates the sticky strategy's first pick takes. `local` is `random` here: every
 * member of a node's group is local to it (across a cluster, src/cluster/shared.ts prefers this node).
 */
export function initialTurn (initial: InitialStickyPick, message: Message, count: number): number {
  switch (initial) {
    case 'hash_topic': return hash(message.topic) % count
    case 'hash_clientid': return hash(message.origin ?? '') % count
    default: return Math.floor(Math.random() * count)
  }
}

/** A string's 32-bit hash (hash_topic, hash_clientid): the same on every node of a cluster. */
export function hash (text: string): number {
  let h = 0
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0
  return h >>> 0
}
