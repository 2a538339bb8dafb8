// Broker-wide counters, read by $SYS and (later) the HTTP API and Prometheus.

export class Metrics {
  bytesReceived = 0
  bytesSent = 0
  messagesReceived = 0
  messagesSent = 0
  messagesDropped = 0
  packetsReceived = 0
  protocolErrors = 0
  connectionsMax = 0
  connectionsRefused = 0
  authFailures = 0
  tlsHandshakes = 0
  /** Failed TLS handshakes by reason (see src/listeners/tls-errors.ts). */
  readonly tlsFailures: Record<string, number> = {}
}
