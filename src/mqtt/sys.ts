// $SYS/brokers/<node>/... topics (EMQX names): version and sysdescr once, uptime and datetime on the
// heartbeat interval, stats and metrics on the message interval. Retained, so a new subscriber sees them.
import type { Core } from './core.js'
import { createMessage } from './message.js'

export class SysPublisher {
  readonly #core: Core
  readonly #prefix: string
  readonly #version: string
  readonly #timers: NodeJS.Timeout[] = []

  constructor (core: Core, version: string) {
    this.#core = core
    this.#prefix = `$SYS/brokers/${core.config.node.name}/`
    this.#version = version
  }

  start (): void {
    const { sys_msg_interval: msgEvery, sys_heartbeat_interval: beatEvery } = this.#core.config.sys_topics
    if (msgEvery === 0 && beatEvery === 0) return
    this.#publish('version', this.#version)
    this.#publish('sysdescr', 'Culex MQTT broker')
    if (beatEvery > 0) {
      this.heartbeat()
      this.#timers.push(setInterval(() => this.heartbeat(), beatEvery).unref())
    }
    if (msgEvery > 0) {
      this.stats()
      this.#timers.push(setInterval(() => this.stats(), msgEvery).unref())
    }
  }

  stop (): void {
    for (const timer of this.#timers) clearInterval(timer)
    this.#timers.length = 0
  }

  heartbeat (): void {
    this.#publish('uptime', String(Math.floor((Date.now() - this.#core.startedAt) / 1000)))
    this.#publish('datetime', new Date().toISOString())
  }

  stats (): void {
    const core = this.#core
    const m = core.metrics
    const figures: Record<string, number> = {
      'stats/connections.count': core.clients.size,
      'stats/connections.max': m.connectionsMax,
      'stats/live_connections.count': core.clients.size,
      'stats/sessions.count': core.sessions.size,
      'stats/subscriptions.count': core.tree.size,
      'stats/retained.count': core.retained.size,
      'metrics/messages.received': m.messagesReceived,
      'metrics/messages.sent': m.messagesSent,
      'metrics/messages.dropped': m.messagesDropped,
      'metrics/bytes.received': m.bytesReceived,
      'metrics/bytes.sent': m.bytesSent,
      'metrics/packets.received': m.packetsReceived,
      'metrics/packets.sent': m.packetsSent,
      'metrics/authentication.failure': m.authFailures,
    }
    for (let qos = 0; qos < 3; qos++) {
      figures[`metrics/messages.qos${qos}.received`] = m.messagesReceivedQos[qos]!
      figures[`metrics/messages.qos${qos}.sent`] = m.messagesSentQos[qos]!
    }
    for (const [topic, value] of Object.entries(figures)) this.#publish(topic, String(value))
  }

  #publish (topic: string, value: string): void {
    this.#core.publish(createMessage(this.#prefix + topic, Buffer.from(value), 0, true), null)
  }
}
