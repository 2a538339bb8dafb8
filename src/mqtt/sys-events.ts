// sys_topics.sys_event_messages: a JSON message on $SYS/brokers/<node>/clients/<clientid>/connected,
// disconnected, subscribed and unsubscribed as clients come, go and change their subscriptions (EMQX's
// emqx_sys hooks, with its payload fields). Observers on the client hooks; QoS 0, not retained. An event
// nobody can receive (no subscription to a `$SYS` filter on any node, no observer of published messages)
// is not built: a CONNECT then costs no JSON and no routing.
import type { CulexConfig } from '../config/schema.js'
import type { ClientInfo, ConnInfo, Hooks, SubscribedInfo } from './hooks.js'
import { createMessage, type Message } from './message.js'

/** What the events need of the broker. */
export interface SysEventsCore {
  readonly config: CulexConfig
  readonly hooks: Hooks
  publish (message: Message, client: ClientInfo | null): void
  /** Whether a message under `$SYS` may reach anyone (a subscriber on any node, a `published` observer). */
  sysListened (): boolean
}

/**
 * The client id as one topic level. EMQX puts the client id into the topic as it is, so a client named
 * `a/b` or `+` publishes events on another client's topics (or a topic that is not a valid topic name);
 * here `%`, `/`, `+`, `#` and control characters are percent-encoded (`a/b` → `a%2Fb`), so every client's
 * events stay under a level of their own, and a subscriber can decode the id back. Plain ids are unchanged.
 */
export function clientIdLevel (clientId: string): string {
  // eslint-disable-next-line no-control-regex
  return /[%/+#\x00-\x1f\x7f]/.test(clientId)
    // eslint-disable-next-line no-control-regex
    ? clientId.replace(/[%/+#\x00-\x1f\x7f]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)
    : clientId
}

/** EMQX's reason atoms for the ways Culex's connections end; other reasons are given as Culex words them. */
export function disconnectReason (reason: string): string {
  if (reason.startsWith('client sent DISCONNECT')) return 'normal'
  if (reason === 'connection lost' || reason.startsWith('socket error')) return 'tcp_closed'
  if (reason.includes('keep alive')) return 'keepalive_timeout'
  if (reason.includes('taken over')) return 'takenover'
  if (reason.includes('shutting down')) return 'shutdown'
  return reason
}

export class SysEvents {
  readonly #core: SysEventsCore
  readonly #prefix: string
  readonly #installed: [keyof Pick<Hooks, 'clientConnected' | 'clientDisconnected' | 'clientSubscribed' | 'clientUnsubscribed'>, (...args: never[]) => void][] = []

  constructor (core: SysEventsCore) {
    this.#core = core
    this.#prefix = `$SYS/brokers/${core.config.node.name}/clients/`
  }

  /** Installs the hooks of the events the configuration turns on. */
  start (): void {
    const events = this.#core.config.sys_topics.sys_event_messages
    const hooks = this.#core.hooks
    if (events.client_connected) this.#add('clientConnected', (client: ClientInfo, conn: ConnInfo) => this.#connected(client, conn))
    if (events.client_disconnected) this.#add('clientDisconnected', (client: ClientInfo, reason: string, conn: ConnInfo) => this.#disconnected(client, reason, conn))
    if (events.client_subscribed) this.#add('clientSubscribed', (client: ClientInfo, sub: SubscribedInfo) => this.#subscribed(client, sub))
    if (events.client_unsubscribed) this.#add('clientUnsubscribed', (client: ClientInfo, topic: string) => this.#unsubscribed(client, topic))
    for (const [name, fn] of this.#installed) hooks.add(name, fn as never)
  }

  stop (): void {
    for (const [name, fn] of this.#installed.splice(0)) this.#core.hooks.remove(name, fn as never)
  }

  #add<K extends 'clientConnected' | 'clientDisconnected' | 'clientSubscribed' | 'clientUnsubscribed'> (name: K, fn: Hooks[K][number]): void {
    this.#installed.push([name, fn as (...args: never[]) => void])
  }

  /** EMQX's common_infos. */
  #common (client: ClientInfo, conn: ConnInfo): Record<string, unknown> {
    return {
      clientid: client.clientId,
      username: client.username ?? null,
      ipaddress: client.remoteAddress,
      sockport: conn.sockPort,
      protocol: 'mqtt',
      proto_name: conn.protoName,
      proto_ver: client.protocolVersion,
      connected_at: client.connectedAt,
      ts: Date.now(),
    }
  }

  #connected (client: ClientInfo, conn: ConnInfo): void {
    if (!this.#core.sysListened()) return
    this.#publish(client, 'connected', {
      ...this.#common(client, conn),
      conn_props: {},
      receive_maximum: conn.receiveMaximum,
      keepalive: conn.keepalive,
      clean_start: conn.cleanStart,
      expiry_interval: conn.expiryInterval,
      client_attrs: client.attrs,
    })
  }

  #disconnected (client: ClientInfo, reason: string, conn: ConnInfo): void {
    if (!this.#core.sysListened()) return
    this.#publish(client, 'disconnected', {
      ...this.#common(client, conn),
      disconn_props: {},
      client_attrs: client.attrs,
      reason: disconnectReason(reason),
      disconnected_at: Date.now(),
    })
  }

  #subscribed (client: ClientInfo, sub: SubscribedInfo): void {
    if (!this.#core.sysListened()) return
    this.#publish(client, 'subscribed', {
      clientid: client.clientId,
      username: client.username ?? null,
      protocol: 'mqtt',
      topic: sub.topic,
      subopts: { qos: sub.qos, nl: sub.nl ? 1 : 0, rap: sub.rap ? 1 : 0, rh: sub.rh },
      ts: Date.now(),
    })
  }

  #unsubscribed (client: ClientInfo, topic: string): void {
    if (!this.#core.sysListened()) return
    this.#publish(client, 'unsubscribed', {
      clientid: client.clientId,
      username: client.username ?? null,
      protocol: 'mqtt',
      topic,
      ts: Date.now(),
    })
  }

  #publish (client: ClientInfo, event: string, payload: Record<string, unknown>): void {
    const topic = `${this.#prefix}${clientIdLevel(client.clientId)}/${event}`
    this.#core.publish(createMessage(topic, Buffer.from(JSON.stringify(payload)), 0, false), null)
  }
}
