// Which member of a `$share` group gets a message: mqtt.shared_subscription_strategy applied over the
// members whose client is online, else the next offline member (its session keeps the message).
import type { Message } from './message.js'
import type { Session } from './session.js'
import type { SharedGroup, Subscription } from './topic-tree.js'

export type ShareStrategy = 'round_robin' | 'random' | 'sticky' | 'hash_clientid' | 'hash_topic'

/** The member to deliver to (not `exclude`, a member that is leaving); undefined when there is none. */
export function pickMember (group: SharedGroup<Session>, message: Message, strategy: ShareStrategy, exclude?: Session): Subscription<Session> | undefined {
  const members = group.members
  const n = members.length
  if (n === 0) return undefined
  const online = (m: Subscription<Session>) => m.subscriber.link !== null && m.subscriber !== exclude
  switch (strategy) {
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
      const last = members[group.next % n]!
      if (online(last)) return last
      break
    }
  }
  for (let k = 0; k < n; k++) {
    const idx = (group.next + k) % n
    if (online(members[idx]!)) {
      group.next = strategy === 'sticky' ? idx : idx + 1
      return members[idx]
    }
  }
  // Nobody online: queue on the next member (its session keeps it until it returns or expires).
  const offline = members.filter((m) => m.subscriber !== exclude)
  if (offline.length === 0) return undefined
  return offline[group.next++ % offline.length]
}

/** A string's 32-bit hash (hash_topic, hash_clientid): the same on every node of a cluster. */
export function hash (text: string): number {
  let h = 0
  for (let i = 0; i < text.length; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0
  return h >>> 0
}
