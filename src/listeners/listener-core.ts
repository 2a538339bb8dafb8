// What the listeners need of the broker: a narrow view of src/mqtt/core.ts.
import type { Duplex } from 'node:stream'
import type { CulexConfig } from '../config/schema.js'
import type { Log } from '../log.js'
import type { Channel, ListenerContext, TransportInfo } from '../mqtt/channel.js'
import type { AlarmSink } from '../mqtt/alarms.js'
import type { Metrics } from '../mqtt/metrics.js'

/** The broker as a listener sees it (src/mqtt/core.ts provides it). */
export interface ListenerCore {
  readonly config: CulexConfig
  readonly log: Log
  readonly metrics: Metrics
  /** Raises and clears alarms (overload_protection's memory mark). */
  readonly alarms: AlarmSink
  /** True once the broker is shutting down: accept nothing new. */
  readonly closing: boolean
  /** Every open connection's channel. */
  readonly connections: ReadonlySet<Channel>
  /** Hands a new connection to the MQTT core. */
  accept (socket: Duplex, listener: ListenerContext, transport: TransportInfo): Channel
}
