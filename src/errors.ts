// Every CULEX_ERR_* code, with the MQTT reason code it maps to where it ends an MQTT exchange.
// docs/errors.md mirrors this table; test/errors.test.ts fails when they disagree. Retired codes are never reused.

export const ERRORS = {
  CULEX_ERR_CONFIG_PARSE: { message: 'The configuration file is not valid HOCON', reasonCode: null },
  CULEX_ERR_CONFIG_INVALID: { message: 'A configuration key is unknown or has a value of the wrong type', reasonCode: null },
  CULEX_ERR_CONFIG_FILE: { message: 'The configuration file cannot be read', reasonCode: null },
  CULEX_ERR_LISTEN: { message: 'A listener cannot bind its address', reasonCode: null },
  CULEX_ERR_TLS_CONFIG: { message: 'A TLS listener\'s certificate, key, password or cipher list cannot be used', reasonCode: null },
  CULEX_ERR_STORE: { message: 'The data store in node.data_dir cannot be opened or written', reasonCode: null },
  CULEX_ERR_REGISTRY: { message: 'A device-registry request breaks a rule (the message names it): not a CA, expired, duplicate serial, unknown serial', reasonCode: null },
  CULEX_ERR_CERT_INVALID: { message: 'A certificate bundle breaks an import rule (the message names the rule)', reasonCode: null },
  CULEX_ERR_API_KEYS: { message: 'The API key bootstrap file (api_key.bootstrap_file) cannot be read or has a malformed line', reasonCode: null },
  CULEX_ERR_CLUSTER: { message: 'The cluster cannot start: Redis (cluster.redis.servers) unreachable or refusing the connection, unreadable TLS files, or node.name already used by a running node', reasonCode: null },
  CULEX_ERR_ACL_PARSE: { message: 'An authorization rule file (acl.conf) cannot be read or has a malformed rule', reasonCode: null },
  CULEX_ERR_MQTT_MALFORMED: { message: 'A packet does not follow the MQTT wire format', reasonCode: 0x81 },
  CULEX_ERR_MQTT_PROTOCOL: { message: 'A packet breaks an MQTT protocol rule', reasonCode: 0x82 },
  CULEX_ERR_MQTT_PACKET_TOO_LARGE: { message: 'A packet is larger than mqtt.max_packet_size', reasonCode: 0x95 },
  CULEX_ERR_MQTT_TOPIC_INVALID: { message: 'A topic name or filter is not valid', reasonCode: 0x90 },
  CULEX_ERR_MQTT_PAYLOAD_FORMAT: { message: 'A payload declared as UTF-8 is not valid UTF-8', reasonCode: 0x99 },
  CULEX_ERR_MQTT_RECEIVE_MAXIMUM: { message: 'The client sent more QoS 2 messages than the Receive Maximum allows', reasonCode: 0x93 },
  CULEX_ERR_MQTT_TOPIC_ALIAS: { message: 'A topic alias is zero, above the maximum, or unknown', reasonCode: 0x94 },
  CULEX_ERR_MQTT_KEEPALIVE: { message: 'The client sent nothing within 1.5 times its Keep Alive', reasonCode: 0x8d },
  CULEX_ERR_MQTT_TAKEN_OVER: { message: 'Another connection took over the session', reasonCode: 0x8e },
  CULEX_ERR_MQTT_QOS_NOT_SUPPORTED: { message: 'The QoS is above mqtt.max_qos_allowed', reasonCode: 0x9b },
  CULEX_ERR_MQTT_RETAIN_NOT_SUPPORTED: { message: 'Retained messages are disabled', reasonCode: 0x9a },
  CULEX_ERR_MQTT_SHUTDOWN: { message: 'The broker is shutting down', reasonCode: 0x8b },
  CULEX_ERR_MQTT_IDLE: { message: 'No CONNECT arrived within mqtt.idle_timeout', reasonCode: null },
  CULEX_ERR_MQTT_NOT_AUTHORIZED: { message: 'Authorization denied a PUBLISH or SUBSCRIBE and authorization.deny_action is disconnect', reasonCode: 0x87 },
} as const

export type ErrorCode = keyof typeof ERRORS

/** Errors in what the operator configured (files included): `culex start` exits with code 2 on them, 1 on the rest. */
export const CONFIGURATION_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CULEX_ERR_CONFIG_PARSE', 'CULEX_ERR_CONFIG_INVALID', 'CULEX_ERR_CONFIG_FILE', 'CULEX_ERR_TLS_CONFIG', 'CULEX_ERR_API_KEYS', 'CULEX_ERR_ACL_PARSE',
])

export class CulexError extends Error {
  readonly code: ErrorCode
  readonly reasonCode: number | null

  constructor (code: ErrorCode, detail?: string, options?: { cause?: unknown }) {
    super(detail ?? ERRORS[code].message, options)
    this.name = 'CulexError'
    this.code = code
    this.reasonCode = ERRORS[code].reasonCode
  }
}
