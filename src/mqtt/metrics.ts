// Broker-wide counters, read by $SYS, the HTTP API and Prometheus (src/api/prometheus.ts). Integer
// increments only: gauges (connections, queues) are computed when read.

export class Metrics {
  bytesReceived = 0
  bytesSent = 0
  messagesReceived = 0
  messagesSent = 0
  /** PUBLISH received and sent, by QoS (index 0, 1, 2). */
  readonly messagesReceivedQos = [0, 0, 0]
  readonly messagesSentQos = [0, 0, 0]
  messagesDropped = 0
  /** Messages held by delayed publish (EMQX's messages.delayed). */
  messagesDelayed = 0
  /** Will messages dropped because their client was not authorized to publish them (also in messagesDropped). */
  willsNotAuthorized = 0
  /** Deliveries to one subscriber that failed with an error, the others served (also in messagesDropped). */
  deliveryErrors = 0
  /** Reads and writes of the data store (durable_storage) that failed; the broker went on without them. */
  storeErrors = 0
  packetsReceived = 0
  packetsSent = 0
  protocolErrors = 0
  connectionsMax = 0
  connectionsRefused = 0
  authFailures = 0
  tlsHandshakes = 0
  /** Failed TLS handshakes by reason (see src/listeners/tls-errors.ts). */
  readonly tlsFailures: Record<string, number> = {}
  /** Completed TLS handshakes by listener id. */
  readonly tlsHandshakesByListener: Record<string, number> = {}
  /** Failed TLS handshakes by listener id, then reason. */
  readonly tlsFailuresByListener: Record<string, Record<string, number>> = {}
  /** Connections closed for want of a valid PROXY protocol header (proxy_protocol = true), by listener id, then reason. */
  readonly proxyProtocolFailures: Record<string, Record<string, number>> = {}
  /** What the overload limits did (README "Limits"). */
  readonly limits = {
    /** New connections held back by a listener's max_conn_rate. */
    connRateDelayed: 0,
    /** New connections closed because max_conn_rate's queue (tcp_options.backlog) was full. */
    connRateRefused: 0,
    /** New connections closed at accept above overload_protection.mem_high_watermark. */
    memRefused: 0,
    /** Times a client's reads were paused by messages_rate or bytes_rate. */
    publishThrottled: 0,
    /** QoS 0 deliveries dropped for a client over mqtt.max_write_buffer (also in messagesDropped). */
    slowConsumerDropped: 0,
    /** Slow consumers disconnected by force_shutdown. */
    slowConsumerDisconnected: 0,
    /** Clients disconnected by force_shutdown for pinning more than max_heap_size (src/mqtt/memory.ts). */
    memoryDisconnected: 0,
  }
}
