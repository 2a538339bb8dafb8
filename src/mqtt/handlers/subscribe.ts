// SUBSCRIBE (spec 3.8): each filter checked and authorized, SUBACK, then the retained messages it asks for.
import type { ISubscribePacket, ISubscription, QoS } from 'mqtt-packet'
import { CulexError } from '../../errors.js'
import type { Channel } from '../channel.js'
import { runAuthorize, type AuthzDecision } from '../hooks.js'
import { subscriptionBytes } from '../memory.js'
import { isExpired } from '../message.js'
import { RC } from '../reason-codes.js'
import { paceRetained } from '../retained-pacing.js'
import type { Session } from '../session.js'
import { EXCLUSIVE_PREFIX } from '../exclusive.js'
import { hasWildcard, isMalformedString, parseShared, topicFilterError, SHARE_PREFIX } from '../topic.js'
import type { Subscription } from '../topic-tree.js'

/** A filter that passed the checks, awaiting authorization. */
interface Candidate { index: number; request: ISubscription; filter: string; shared: boolean; exclusive: boolean }

export function handleSubscribe (channel: Channel, packet: ISubscribePacket): void | Promise<void> {
  if (packet.subscriptions.length === 0) throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'SUBSCRIBE without a topic filter [MQTT-3.8.3-2]')
  if (packet.properties?.subscriptionIdentifier === 0) throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'Subscription Identifier 0')
  const codes: number[] = new Array(packet.subscriptions.length)
  const candidates: Candidate[] = []
  const session = channel.session!
  let count = session.subscriptions.size
  // force_shutdown.max_heap_size: a new filter the client has no memory left for is refused with 0x97.
  let memoryLeft = channel.memoryLeft
  packet.subscriptions.forEach((asked, index) => {
    let request = asked
    const exclusive = request.topic.startsWith(EXCLUSIVE_PREFIX)
    if (exclusive) {
      const refused = exclusiveRefusal(channel, request.topic)
      if (refused !== null) { codes[index] = refused; return }
      request = { ...request, topic: request.topic.slice(EXCLUSIVE_PREFIX.length) }
    }
    const refusal = check(channel, request)
    if (refusal !== null) { codes[index] = refusal; return }
    const filter = mountFilter(channel.mountpoint, request.topic)
    if (!session.subscriptions.has(filter)) {
      const cost = subscriptionBytes({ filter })
      const quota = count + 1 > channel.core.config.mqtt.max_subscriptions ? 'mqtt.max_subscriptions'
        : cost > memoryLeft ? 'force_shutdown.max_heap_size' : null
      if (quota !== null) {
        channel.core.log.info({ client: channel.label, filter }, `SUBSCRIBE refused: quota exceeded (${quota})`)
        codes[index] = RC.QUOTA_EXCEEDED
        return
      }
      count++
      memoryLeft -= cost
    }
    candidates.push({ index, request, filter, shared: request.topic.startsWith(SHARE_PREFIX), exclusive })
  })
  const hooks = channel.core.hooks.authorizeSubscribe
  const decisions = candidates.map((c) => hooks.length === 0 ? true : runAuthorize(hooks, channel.client!, { topic: c.filter, qos: c.request.qos }))
  if (decisions.some((d) => d instanceof Promise)) {
    return Promise.all(decisions).then((resolved) => {
      if (channel.state === 'connected') return finish(channel, packet, codes, candidates, resolved)
    })
  }
  return finish(channel, packet, codes, candidates, decisions as AuthzDecision[])
}

/**
 * Whether `$exclusive/<filter>` may be asked for at all (EMQX's emqx_topic:parse and emqx_mqtt_caps): with
 * mqtt.exclusive_subscription off, or with no filter, or of a shared subscription, it is refused 0x8F.
 */
function exclusiveRefusal (channel: Channel, topic: string): number | null {
  const why = !channel.core.config.mqtt.exclusive_subscription ? 'exclusive subscriptions are disabled (mqtt.exclusive_subscription)'
    : topic.length === EXCLUSIVE_PREFIX.length ? 'no topic filter after $exclusive/'
      : topic.startsWith(SHARE_PREFIX, EXCLUSIVE_PREFIX.length) ? 'a shared subscription cannot be exclusive' : null
  if (why === null) return null
  if (isMalformedString(topic)) throw new CulexError('CULEX_ERR_MQTT_MALFORMED', 'SUBSCRIBE topic filter is ill-formed UTF-8 or contains U+0000')
  channel.core.log.info({ client: channel.label, filter: topic }, `SUBSCRIBE refused: ${why}`)
  return RC.TOPIC_FILTER_INVALID
}

/** The reason code refusing one filter, or null to go on. */
function check (channel: Channel, request: ISubscription): number | null {
  const mqtt = channel.core.config.mqtt
  if (isMalformedString(request.topic)) throw new CulexError('CULEX_ERR_MQTT_MALFORMED', 'SUBSCRIBE topic filter is ill-formed UTF-8 or contains U+0000')
  const error = topicFilterError(request.topic, mqtt.max_topic_levels)
  if (error) {
    channel.core.log.info({ client: channel.label, filter: request.topic }, `SUBSCRIBE refused: ${error}`)
    return RC.TOPIC_FILTER_INVALID
  }
  const shared = parseShared(request.topic)
  if (shared) {
    if (request.nl) throw new CulexError('CULEX_ERR_MQTT_PROTOCOL', 'No Local on a shared subscription [MQTT-3.8.3-4]')
    if (!mqtt.shared_subscription) return RC.SHARED_SUBSCRIPTIONS_NOT_SUPPORTED
  }
  if (!mqtt.wildcard_subscription && hasWildcard(shared ? shared.filter : request.topic)) return RC.WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED
  return null
}

function finish (channel: Channel, packet: ISubscribePacket, codes: number[], candidates: Candidate[], allowed: AuthzDecision[]): void | Promise<void> {
  const cut = allowed.indexOf('disconnect')
  if (cut >= 0) {
    channel.protocolError(new CulexError('CULEX_ERR_MQTT_NOT_AUTHORIZED', `not authorized to subscribe ${JSON.stringify(candidates[cut]!.request.topic)}`))
    return
  }
  const core = channel.core
  const session = channel.session!
  const subId = packet.properties?.subscriptionIdentifier ?? 0
  const retainedFor: { sub: Subscription<Session>, existed: boolean }[] = []
  candidates.forEach((c, i) => {
    if (!allowed[i]) {
      codes[c.index] = RC.NOT_AUTHORIZED
      core.log.info({ client: channel.label, filter: c.filter }, 'SUBSCRIBE refused: not authorized')
      return
    }
    if (c.exclusive && !core.router.exclusive.acquire(c.filter, session.clientId)) {
      codes[c.index] = RC.QUOTA_EXCEEDED
      core.log.info({ client: channel.label, filter: c.filter }, 'SUBSCRIBE refused: another client holds the exclusive subscription')
      return
    }
    const qos = Math.min(c.request.qos, core.config.mqtt.max_qos_allowed) as QoS
    const sub: Subscription<Session> = {
      filter: c.filter,
      subscriber: session,
      qos,
      nl: c.request.nl === true,
      rap: c.request.rap === true,
      rh: c.request.rh ?? 0,
      id: subId,
      ...(c.exclusive ? { exclusive: true } : {}),
    }
    const existed = core.router.subscribe(session, sub)
    codes[c.index] = qos
    if (core.hooks.clientSubscribed.length > 0) core.hooks.notify('clientSubscribed', channel.client!, { topic: c.filter, qos, nl: sub.nl, rap: sub.rap, rh: sub.rh })
    if (!c.shared) retainedFor.push({ sub, existed })
  })
  // In a cluster the SUBACK waits until every node routes to the new subscriptions.
  const synced = core.cluster?.routesSynced() ?? null
  if (synced === null) return suback(channel, packet, codes, retainedFor)
  return synced.then(() => {
    if (channel.state === 'connected') suback(channel, packet, codes, retainedFor)
  })
}

function suback (channel: Channel, packet: ISubscribePacket, codes: number[], retainedFor: { sub: Subscription<Session>, existed: boolean }[]): void {
  const v5 = channel.protocolVersion === 5
  channel.send({ cmd: 'suback', messageId: packet.messageId!, granted: v5 ? codes : codes.map((rc) => (rc < 0x80 ? rc : 0x80)) })
  for (const { sub, existed } of retainedFor) sendRetained(channel, sub, existed)
}

/** Retain Handling 0: always; 1: only for a new subscription; 2: never [MQTT-3.3.1-9..11]. */
function sendRetained (channel: Channel, sub: Subscription<Session>, existed: boolean): void {
  if (sub.rh === 2 || (sub.rh === 1 && existed)) return
  const now = Date.now()
  // A wildcard filter was authorized as a filter: each retained topic it matches is checked as well.
  const guard = hasWildcard(sub.filter) ? channel.core.hooks.readGuard : undefined
  const messages = channel.core.retained.match(sub.filter).filter((message) =>
    !isExpired(message, now) && !(guard && guard.mayDeny(message.topic) && !guard.mayRead(channel.client!, message.topic, sub.qos, now)))
  // retainer.delivery_rate: later batches are checked for expiry again as they go.
  paceRetained(channel, messages, channel.core.config.retainer.delivery_rate, (message) => {
    if (isExpired(message, Date.now())) return
    const qos = (channel.core.config.mqtt.upgrade_qos || sub.qos < message.qos ? sub.qos : message.qos) as QoS
    sub.subscriber.deliver({ message, qos, retain: true, subIds: sub.id ? [sub.id] : undefined, group: undefined, packetId: 0, state: 'publish', sentAt: 0 })
  })
}

/** `$share/g/f` keeps its prefix in front of the mountpoint. */
export function mountFilter (mountpoint: string, filter: string): string {
  if (!mountpoint) return filter
  const shared = parseShared(filter)
  return shared ? `${SHARE_PREFIX}${shared.group}/${mountpoint}${shared.filter}` : mountpoint + filter
}
