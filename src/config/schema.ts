// The single source for every configuration key: its type, default and doc line.
// docs/config.md is generated from this file (`npm run docs:config`), and a test keeps them in step.
import { z } from 'zod'
import { bind, bool, countOrInfinity, duration, durationOrDisabled, int, size } from './types.js'

// Missing sections get their defaults: parse {} through the section schema.
const section = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape).prefault({} as never)

export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency', 'all', 'none'] as const

const logHandler = {
  enable: bool().default(true).describe('Whether this log handler writes.'),
  level: z.enum(LOG_LEVELS).default('warning').describe('Lowest level written: debug, info, notice, warning, error, critical.'),
  formatter: z.enum(['text', 'json']).default('text').describe('text for people, json for log shippers.'),
}

const node = section({
  name: z.string().default('culex@127.0.0.1').describe('Node name, shown in $SYS topics and the API.'),
  data_dir: z.string().default('data').describe('Directory for sessions, certificates and registries.'),
  cookie: z.string().optional().describe('Accepted for EMQX compatibility; Culex nodes do not use Erlang cookies.'),
})

const log = section({
  console: section({ ...logHandler }).describe('Log to standard output.'),
  file: z.record(z.string(), section({
    ...logHandler,
    enable: bool().default(false).describe('Whether this log file is written.'),
    path: z.string().default('log/culex.log').describe('File to append log lines to.'),
  })).default({}).describe('Named log files, e.g. log.file.default { enable = true, path = "log/culex.log" }.'),
})

const mqtt = section({
  max_packet_size: size().prefault('1MB').describe('Largest MQTT packet accepted, checked from the fixed header before the body is read.'),
  max_clientid_len: int().pipe(z.number().min(23).max(65535)).default(65535).describe('Longest client identifier accepted.'),
  max_topic_levels: int().pipe(z.number().min(1)).default(128).describe('Most levels in a topic name or filter.'),
  max_qos_allowed: int().pipe(z.number().min(0).max(2)).default(2).describe('Highest QoS granted to subscriptions and accepted on PUBLISH.'),
  max_topic_alias: int().pipe(z.number().min(0).max(65535)).default(65535).describe('Topic Alias Maximum the broker accepts from MQTT 5 clients.'),
  retain_available: bool().default(true).describe('Whether retained messages are supported.'),
  wildcard_subscription: bool().default(true).describe('Whether wildcard subscriptions are allowed.'),
  shared_subscription: bool().default(true).describe('Whether $share/ subscriptions are allowed.'),
  shared_subscription_strategy: z.enum(['round_robin', 'random', 'sticky', 'hash_clientid', 'hash_topic']).default('round_robin').describe('How a shared subscription group picks the member for each message.'),
  ignore_loop_deliver: bool().default(false).describe('Do not deliver a client its own messages (No Local for every subscription).'),
  strict_mode: bool().default(false).describe('Check UTF-8 strings in every packet strictly.'),
  idle_timeout: duration().prefault('15s').describe('Close a connection that sends no CONNECT within this time.'),
  keepalive_multiplier: z.number().min(1).default(1.5).describe('A client silent for keepalive × this is disconnected.'),
  server_keepalive: durationOrDisabled().prefault('disabled').describe('Keep Alive the broker imposes on MQTT 5 clients (seconds), or disabled.'),
  max_inflight: int().pipe(z.number().min(1).max(65535)).default(32).describe('Most unacknowledged QoS 1/2 messages sent to one client.'),
  retry_interval: duration().prefault('30s').describe('Resend an unacknowledged QoS 1/2 message after this long (0 = only on reconnect).'),
  max_awaiting_rel: countOrInfinity().prefault(100).describe('Most incoming QoS 2 messages awaiting PUBREL; the Receive Maximum announced to MQTT 5 clients.'),
  await_rel_timeout: duration().prefault('300s').describe('Drop an incoming QoS 2 message whose PUBREL has not come within this time.'),
  session_expiry_interval: duration().prefault('2h').describe('Session expiry for MQTT 3 clients with clean_session = false, and the ceiling for MQTT 5.'),
  max_mqueue_len: countOrInfinity().prefault(1000).describe('Most messages queued for one session; the oldest is dropped beyond it.'),
  mqueue_store_qos0: bool().default(true).describe('Queue QoS 0 messages for offline sessions too.'),
  max_subscriptions: countOrInfinity().prefault('infinity').describe('Most subscriptions per client.'),
  upgrade_qos: bool().default(false).describe('Deliver at the subscription QoS even when the message was published lower.'),
  peer_cert_as_username: z.enum(['disabled', 'cn', 'dn', 'crt', 'pem', 'md5']).default('disabled').describe('Take the user name from the verified client certificate: its CN, subject DN, DER (base64), PEM or the MD5 of the PEM.'),
  peer_cert_as_clientid: z.enum(['disabled', 'cn', 'dn', 'crt', 'pem', 'md5']).default('disabled').describe('Take the client identifier from the verified client certificate, as peer_cert_as_username.'),
  use_username_as_clientid: bool().default(false).describe('Replace the client identifier with the username.'),
  response_information: z.string().default('').describe('Response Information sent to MQTT 5 clients that request it.'),
  message_expiry_interval: countOrInfinity().prefault('infinity').describe('Ceiling on Message Expiry Interval (seconds) for queued and retained messages.'),
})

const bindField = (port: number) => bind().prefault(`0.0.0.0:${port}`).describe('Address and port, "0.0.0.0:1883", ":1883" or a port number.')

const listenerCommon = {
  enable: bool().default(true).describe('Whether this listener is started.'),
  max_connections: countOrInfinity().prefault('infinity').describe('Most concurrent connections; further ones are closed at accept.'),
  mountpoint: z.string().default('').describe('Prefix added to every topic of this listener\'s clients; ${clientid} and ${username} expand.'),
}

const tcpOptions = section({
  nodelay: bool().default(true).describe('Disable Nagle\'s algorithm (a 40 ms stall per small packet otherwise).'),
  backlog: int().pipe(z.number().min(1)).default(1024).describe('Pending connections the kernel keeps.'),
  keepalive: z.string().regex(/^(none|\d+(,\d+,\d+)?)$/, 'expected none or "idle,interval,probes" in seconds').default('none')
    .describe('TCP keepalive: none, or "idle,interval,probes" in seconds (Node applies the idle time; the OS sets the rest).'),
})

const tcpListener = section({
  ...listenerCommon,
  bind: bindField(1883),
  tcp_options: tcpOptions,
})

const websocketOptions = section({
  mqtt_path: z.string().default('/mqtt').describe('HTTP path of the WebSocket endpoint ("/" is served too, for clients that send no path).'),
  fail_if_no_subprotocol: bool().default(true).describe('Refuse a WebSocket upgrade that names no subprotocol.'),
  supported_subprotocols: z.union([z.string(), z.array(z.string())])
    .default(['mqtt', 'mqttv3.1', 'mqttv3.1.1', 'mqtt5', 'mqtt-v3', 'mqtt-v3.1.1', 'mqtt-v5'])
    .transform((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v))
    .describe('Subprotocols accepted, a list or a comma-separated string.'),
})

const wsListener = section({
  ...listenerCommon,
  bind: bindField(8083),
  tcp_options: tcpOptions,
  websocket: websocketOptions,
})

export const TLS_VERSIONS = ['tlsv1.3', 'tlsv1.2', 'tlsv1.1', 'tlsv1'] as const

const stringList = () => z.union([z.string(), z.array(z.string())])
  .transform((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v))

const sslOptions = section({
  cacertfile: z.string().default('certs/ca.pem').describe('PEM file of the CAs trusted for client certificates (two-way TLS).'),
  certfile: z.string().default('certs/server.pem').describe('PEM file of the server certificate, followed by its intermediates (a fullchain.pem).'),
  keyfile: z.string().default('certs/server.key').describe('PEM file of the server private key (PKCS#1, PKCS#8 or SEC1).'),
  password: z.string().optional().describe('Passphrase of an encrypted keyfile.'),
  verify: z.enum(['verify_none', 'verify_peer']).default('verify_none').describe('verify_peer asks clients for a certificate and refuses an invalid one.'),
  fail_if_no_peer_cert: bool().default(false).describe('With verify_peer: refuse clients that send no certificate.'),
  depth: int().pipe(z.number().min(0)).default(10).describe('Most intermediate CAs allowed between a client certificate and a trusted CA.'),
  versions: z.array(z.enum(TLS_VERSIONS)).min(1).default(['tlsv1.3', 'tlsv1.2']).describe('TLS versions offered; tlsv1.1 and tlsv1 only when listed.'),
  ciphers: stringList().default([]).describe('Cipher suites, OpenSSL or IANA names; empty = OpenSSL defaults. TLS 1.3 suites apply to TLS 1.3 only.'),
  honor_cipher_order: bool().default(true).describe('Prefer the server\'s cipher order over the client\'s.'),
  reuse_sessions: bool().default(true).describe('Allow TLS session resumption (session tickets and session ids).'),
  handshake_timeout: duration().prefault('15s').describe('Close a connection whose TLS handshake has not finished by then.'),
  partial_chain: z.union([z.boolean(), z.enum(['true', 'false', 'two_cacerts_from_cacertfile', 'cacert_from_cacertfile'])])
    .default(false).transform((v) => v !== false && v !== 'false')
    .describe('Trust an intermediate CA in cacertfile as an anchor, without its root.'),
  verify_peer_ext_key_usage: z.string().default('').describe('Require this Extended Key Usage in client certificates: clientAuth, serverAuth or an OID.'),
  secure_renegotiate: bool().default(true).describe('Accepted for EMQX compatibility; Culex never allows insecure renegotiation.'),
  hibernate_after: duration().prefault('5s').describe('Accepted for EMQX compatibility (an Erlang process setting); no effect.'),
  gc_after_handshake: bool().default(false).describe('Accepted for EMQX compatibility (an Erlang process setting); no effect.'),
  log_level: z.string().default('notice').describe('Accepted for EMQX compatibility; handshake failures are logged at warning.'),
  managed_certs: z.array(z.strictObject({
    namespace: z.string().optional().describe('Namespace of the bundle; omitted = global.'),
    bundle_name: z.string().describe('Name of a bundle in the certificate store (/api/v5/certs).'),
    sni: z.string().default('').describe('Server name that selects this bundle: exact, or *.example.com for one label.'),
  })).default([]).describe('Managed certificate bundles instead of certfile/keyfile: the SNI picks one, the first is the default.'),
})

const sslListener = section({
  ...listenerCommon,
  bind: bindField(8883),
  tcp_options: tcpOptions,
  ssl_options: sslOptions,
})

const wssListener = section({
  ...listenerCommon,
  bind: bindField(8084),
  tcp_options: tcpOptions,
  websocket: websocketOptions,
  ssl_options: sslOptions,
})

const listeners = z.strictObject({
  tcp: z.record(z.string(), tcpListener).default({}).describe('Plain MQTT over TCP listeners.'),
  ssl: z.record(z.string(), sslListener).default({}).describe('MQTT over TLS listeners.'),
  ws: z.record(z.string(), wsListener).default({}).describe('MQTT over WebSocket listeners.'),
  wss: z.record(z.string(), wssListener).default({}).describe('MQTT over WebSocket over TLS listeners.'),
}).prefault({ tcp: { default: {} }, ssl: { default: {} }, ws: { default: {} }, wss: { default: {} } }).describe('Listeners by type and name; without this key, tcp 1883, ssl 8883, ws 8083 and wss 8084.')

const sysTopics = section({
  sys_msg_interval: durationOrDisabled().prefault('1m').describe('Interval of $SYS/brokers/<node>/... stats and metrics messages (disabled = none).'),
  sys_heartbeat_interval: durationOrDisabled().prefault('30s').describe('Interval of $SYS/brokers/<node>/uptime and datetime messages.'),
})

const retainer = section({
  enable: bool().default(true).describe('Whether retained messages are stored.'),
  max_payload_size: size().prefault('1MB').describe('Largest retained payload kept.'),
  msg_expiry_interval: duration().prefault('0s').describe('Retained messages expire after this long (0 = never).'),
  max_retained_messages: int().pipe(z.number().min(0)).default(0).describe('Most retained messages (0 = no limit).'),
})

const dashboard = section({
  listeners: section({
    http: section({
      enable: bool().default(true).describe('Whether the management API (/api/v5) is served.'),
      bind: bind().prefault(18083).describe('Port, or "ip:port", of the management API (0 = a port the OS picks). Without an API key it listens on 127.0.0.1 whatever this says.'),
    }).describe('The management HTTP API listener (EMQX\'s dashboard listener).'),
  }),
})

const apiKey = section({
  bootstrap_file: z.string().default('').describe('File of API keys for the management API: one key:secret per line, optionally :role (administrator, viewer, publisher), # comments. Clients send them as HTTP basic auth.'),
})

export const configSchema = z.strictObject({
  node,
  log,
  mqtt,
  listeners,
  sys_topics: sysTopics,
  retainer,
  dashboard,
  api_key: apiKey,
})

export type CulexConfig = z.output<typeof configSchema>
export type ConfigInput = z.input<typeof configSchema>
export type TcpListenerConfig = z.output<typeof tcpListener>
export type WsListenerConfig = z.output<typeof wsListener>
export type SslListenerConfig = z.output<typeof sslListener>
export type WssListenerConfig = z.output<typeof wssListener>
export type SslOptions = z.output<typeof sslOptions>
export type MqttConfig = CulexConfig['mqtt']
