// Resuming a persistent session (Clean Start 0, clean_session = false): whose session it is, and what of
// it the client that resumes it may still receive. Like Mosquitto, which checks a reconnecting client's
// queued messages against the ACL again (a client id says nothing of who connects with it).
import type { QoS } from 'mqtt-packet'
import type { ChannelCore } from './channel.js'
import { runAuthorize, type ClientInfo } from './hooks.js'
import type { Delivery, Session } from './session.js'

/** Rounds of checks on the queue: messages queued during one are checked in the next; later ones came through authorized subscriptions. */
const QUEUE_ROUNDS = 3

/** Why `client` may not resume `session` (mqtt.session_owner_check), or null. */
export function ownerRefusal (core: ChannelCore, session: Session, client: ClientInfo): string | null {
  if (!core.config.mqtt.session_owner_check || session.owner === undefined) return null
  if ((client.username ?? null) === session.owner) return null
  return 'the session belongs to another user name (mqtt.session_owner_check)'
}

/**
 * Authorizes a resumed session again for the client resuming it: its subscriptions first (once the denied
 * ones are gone no new message comes through them), then each topic queued or in flight, as a subscription
 * to that topic. What is denied is dropped, counted (messages.dropped) and logged.
 */
export async function reauthorize (core: ChannelCore, session: Session, client: ClientInfo, label: string): Promise<void> {
  const hooks = core.hooks.authorizeSubscribe
  if (hooks.length === 0) return
  // deny_action = disconnect, or a hook that throws, denies this one item, not the whole CONNECT.
  const may = (topic: string, qos: QoS): Promise<boolean> => {
    try {
      return Promise.resolve(runAuthorize(hooks, client, { topic, qos })).then((d) => d === true, () => false)
    } catch {
      return Promise.resolve(false)
    }
  }
  const subs = [...session.subscriptions.values()]
  const allowed = await Promise.all(subs.map((s) => may(s.filter, s.qos)))
  const subscriptions = subs.filter((_, i) => !allowed[i]).map((s) => s.filter)
  for (const filter of subscriptions) core.router.unsubscribe(session, filter)

  const readable = new Map<string, boolean>()
  for (let round = 0; round < QUEUE_ROUNDS; round++) {
    const pending = undecided(session, readable)
    if (pending.length === 0) break
    const answers = await Promise.all(pending.map((d) => may(d.message.topic, d.qos)))
    pending.forEach((d, i) => readable.set(readKey(d), answers[i]!))
  }
  const messages = session.discard((d) => readable.get(readKey(d)) === false)
  if (subscriptions.length + messages === 0) return
  core.log.info({ client: label, subscriptions, messages }, 'resumed session authorized again: subscriptions and messages the client may not read dropped')
}

const readKey = (d: Delivery): string => `${d.qos}:${d.message.topic}`

/** One delivery per (QoS, topic) held in the session and not decided yet. */
function undecided (session: Session, decided: Map<string, boolean>): Delivery[] {
  const out = new Map<string, Delivery>()
  const consider = (d: Delivery) => {
    const key = readKey(d)
    if (!decided.has(key) && !out.has(key)) out.set(key, d)
  }
  for (const d of session.inflight.values()) if (d.state === 'publish') consider(d)
  for (const d of session.queued()) consider(d)
  return [...out.values()]
}
