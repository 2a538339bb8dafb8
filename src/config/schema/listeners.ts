// listeners.*: EMQX 5.8's mqtt_listener, tcp_opts and ws_opts.
import { z } from 'zod'
import { bind, bool, countOrInfinity, duration, int, rate, size, TYPE_NAMES } from '../types.js'
import { parseAccessRule, splitAccessRules, type AccessRule } from '../access-rules.js'
import { section, NO_EFFECT_ERLANG } from './marks.js'
import { authenticationList } from './authentication.js'
import { sslOptions, sslListenerOptions } from './tls.js'

const bindField = (port: number) => bind().prefault(`0.0.0.0:${port}`).describe('Address and port, "0.0.0.0:1883", ":1883" or a port number.')

const accessRules = z.union([z.string(), z.array(z.string())]).default(['allow all']).transform((v, ctx): AccessRule[] => {
  const rules: AccessRule[] = []
  for (const text of splitAccessRules(typeof v === 'string' ? [v] : v)) {
    const rule = parseAccessRule(text)
    if (rule) rules.push(rule)
    else ctx.addIssue({ code: 'custom', message: `invalid access rule ${JSON.stringify(text)}: expected "allow|deny all" or "allow|deny ADDRESS[/PREFIX]", e.g. "allow 10.0.0.0/8"` })
  }
  return rules
})

// EMQX's deprecated per-listener limiter (since 5.0.25, replaced by max_conn_rate, messages_rate, bytes_rate).
const rateValue = () => z.union([z.string(), z.number()])
const limiterBucket = z.strictObject({
  rate: rateValue().optional(),
  burst: rateValue().optional(),
  capacity: rateValue().optional(),
  initial: rateValue().optional(),
})
const limiterClient = z.strictObject({
  rate: rateValue().optional(),
  initial: rateValue().optional(),
  low_watermark: rateValue().optional(),
  burst: rateValue().optional(),
  capacity: rateValue().optional(),
  divisible: bool().optional(),
  max_retry_time: rateValue().optional(),
  failure_strategy: z.string().optional(),
})
const LIMITER_TYPES = ['bytes', 'messages', 'connection', 'message_routing', 'bytes_in', 'message_in'] as const
const limiterShape = z.strictObject({
  ...Object.fromEntries(LIMITER_TYPES.map((type) => [type, limiterBucket.optional()])) as Record<typeof LIMITER_TYPES[number], z.ZodOptional<typeof limiterBucket>>,
  client: z.strictObject(Object.fromEntries(LIMITER_TYPES.map((type) => [type, limiterClient.optional()])) as Record<typeof LIMITER_TYPES[number], z.ZodOptional<typeof limiterClient>>).optional(),
})
// One row in docs/config.md: { bytes | messages | connection | message_routing { rate, burst, ... }, client { ... } }.
TYPE_NAMES.set(limiterShape, 'object')
const listenerLimiter = limiterShape.optional().describe('Accepted for EMQX compatibility (deprecated there since 5.0.25); no effect: use max_conn_rate, messages_rate and bytes_rate.')

const listenerCommon = {
  enable: bool().default(true).describe('Whether this listener is started.'),
  enabled: bool().optional().describe('EMQX\'s old name of enable: enabled = false turns the listener off too.'),
  acceptors: int().pipe(z.number().min(1)).default(16).describe(NO_EFFECT_ERLANG + ' Node accepts on one event loop (node.workers spreads connections over processes).'),
  max_connections: countOrInfinity().prefault('infinity').describe('Most concurrent connections; further ones are closed at accept.'),
  max_conn_rate: rate().prefault('infinity').describe('New connections accepted per period, e.g. "1000/s": the rest wait (before TLS or HTTP) as EMQX pauses accepting; beyond tcp_options.backlog waiting they are closed.'),
  messages_rate: rate().prefault('infinity').describe('PUBLISH packets each client may send per period, e.g. "1000/s", "100/10s": over it the broker stops reading from that client until the rate allows, nothing is dropped.'),
  bytes_rate: rate(true).prefault('infinity').describe('PUBLISH bytes each client may send per period, e.g. "1MB/s", "10MB/10s": throttled as messages_rate.'),
  mountpoint: z.string().default('').describe('Prefix added to every topic of this listener\'s clients; ${clientid} and ${username} expand.'),
  zone: z.string().default('default').describe('Accepted for EMQX compatibility; no effect: Culex has no zones, every listener uses the global mqtt, force_shutdown and overload_protection settings.'),
  limiter: listenerLimiter,
  authentication: authenticationList.optional().describe('Authenticator chain of this listener; replaces the global one.'),
  enable_authn: z.union([z.boolean(), z.enum(['true', 'false', 'quick_deny_anonymous'])]).default(true)
    .transform((v) => (v === 'quick_deny_anonymous' ? v : v === true || v === 'true'))
    .describe('false: no authentication on this listener; quick_deny_anonymous: refuse clients without credentials at once.'),
  access_rules: accessRules.describe('Who may connect, checked at accept before TLS or HTTP: "allow|deny all" or "allow|deny ADDRESS[/PREFIX]" (IPv4 or IPv6), e.g. ["allow 10.0.0.0/8", "deny all"]; the first matching rule decides, no match allows. Refused connections are closed and logged (info). Culex applies them on ws and wss listeners too (EMQX only on tcp and ssl). With proxy_protocol = true they match the client\'s address from the PROXY header, after it is read (EMQX matches the proxy\'s own address at accept).'),
  proxy_protocol: bool().default(false).describe('Every connection starts with a PROXY protocol header (v1 or v2, from HAProxy, NGINX or a cloud load balancer), read before TLS or HTTP: the client\'s address and port in it are what logs, bans, ACL ipaddr rules, access_rules, $SYS events and /api/v5/clients see, and a v2 header\'s PP2_TYPE_SSL (send-proxy-v2-ssl-cn) gives the TLS facts of a client whose TLS the proxy terminated; its client certificate common name counts (peer_cert_as_username = cn, the cert authenticator, ${cert_common_name}) only when the proxy verified it. A connection without a valid header is closed, logged and counted (culex_proxy_protocol_failures_total). Anyone who can reach the listener can claim any address: only the proxy must. false: a header is never read (it is a malformed MQTT packet).'),
  proxy_protocol_timeout: duration().prefault('3s').describe('How long a connection has to send its complete PROXY protocol header (proxy_protocol = true) before it is closed.'),
}

const tcpOptions = section({
  active_n: int().pipe(z.number().min(0)).default(100).describe(NO_EFFECT_ERLANG + ' Node reads a socket as data arrives.'),
  nodelay: bool().default(true).describe('Disable Nagle\'s algorithm (a 40 ms stall per small packet otherwise).'),
  backlog: int().pipe(z.number().min(1)).default(1024).describe('Pending connections the kernel keeps.'),
  keepalive: z.string().regex(/^(none|\d+(,\d+,\d+)?)$/, 'expected none or "idle,interval,probes" in seconds').default('none')
    .describe('TCP keepalive: none, or "idle,interval,probes" in seconds (Node applies the idle time; the OS sets the rest).'),
  send_timeout: duration().prefault('15s').describe('How long a connection may hold at least high_watermark unsent bytes (the client does not read what it is sent) before send_timeout_close acts; checked every second at most.'),
  send_timeout_close: bool().default(true).describe('Close a connection whose unsent data stayed above high_watermark for send_timeout (logged, counted); false: log it only, force_shutdown still applies.'),
  high_watermark: size().prefault('1MB').describe('Unsent bytes (not yet taken by the OS) at which a connection is busy: the send_timeout clock runs while it stays at or above this. Keep it below mqtt.max_write_buffer, where QoS 0 messages start being dropped for the client.'),
  buffer: size().prefault('4KB').describe(NO_EFFECT_ERLANG + ' Node reads into buffers of its own size.'),
  recbuf: size().optional().describe('Accepted for EMQX compatibility; no effect: Node cannot set SO_RCVBUF on TCP sockets (the OS sizes it).'),
  sndbuf: size().optional().describe('Accepted for EMQX compatibility; no effect: Node cannot set SO_SNDBUF on TCP sockets (the OS sizes it; high_watermark bounds what waits above it).'),
  reuseaddr: bool().default(true).describe('Accepted for EMQX compatibility; no effect: Node always sets SO_REUSEADDR on listening sockets.'),
  nolinger: bool().default(false).describe('Accepted for EMQX compatibility; no effect: connections are closed with a normal FIN.'),
})

/** A listener section: `enabled` (EMQX's alias) = false turns it off as enable = false does. */
const listenerSection = <T extends z.ZodRawShape & typeof listenerCommon>(shape: T) => z.strictObject(shape)
  .transform((v) => {
    const { enable, enabled } = v as { enable: boolean, enabled?: boolean }
    return { ...v, enable: enable && enabled !== false }
  })
  .prefault({} as never)

export const tcpListener = listenerSection({
  ...listenerCommon,
  bind: bindField(1883),
  tcp_options: tcpOptions,
})

const deflateOptions = section({
  level: z.enum(['none', 'default', 'best_compression', 'best_speed']).optional().describe('zlib compression level (zlib\'s default when absent).'),
  mem_level: int().pipe(z.number().min(1).max(9)).default(8).describe('zlib memory level, 1 to 9.'),
  strategy: z.enum(['default', 'filtered', 'huffman_only', 'rle']).default('default').describe('zlib compression strategy.'),
  server_context_takeover: z.enum(['takeover', 'no_takeover']).default('takeover').describe('no_takeover: the broker resets its compression context for each message (less memory, less compression).'),
  client_context_takeover: z.enum(['takeover', 'no_takeover']).default('takeover').describe('no_takeover: ask clients to reset theirs for each message.'),
  server_max_window_bits: int().pipe(z.number().min(8).max(15)).default(15).describe('Largest LZ77 window of the broker\'s compressor, 8 to 15.'),
  client_max_window_bits: int().pipe(z.number().min(8).max(15)).default(15).describe('Largest LZ77 window clients may use, 8 to 15.'),
}).describe('permessage-deflate settings when compress = true.')

const websocketOptions = section({
  mqtt_path: z.string().default('/mqtt').describe('HTTP path of the WebSocket endpoint ("/" is served too, for clients that send no path).'),
  mqtt_piggyback: z.enum(['single', 'multiple']).default('multiple').describe('single: each MQTT packet the broker sends goes in a WebSocket message of its own; multiple: packets sent together share one message. Clients may always send several in one.'),
  compress: bool().default(false).describe('Offer permessage-deflate (RFC 7692) to clients that ask for it; see deflate_opts.'),
  deflate_opts: deflateOptions,
  idle_timeout: duration().prefault('7200s').describe('Close a WebSocket connection that receives nothing for this long (MQTT keep alive usually acts sooner).'),
  max_frame_size: countOrInfinity().refine((n) => n >= 1, 'expected a positive integer or infinity').prefault('infinity').describe('Largest WebSocket message accepted, in bytes; larger ones close the connection (1009). mqtt.max_packet_size bounds it too.'),
  validate_utf8: bool().default(true).describe('Check that text WebSocket messages are valid UTF-8 (close 1007 otherwise); MQTT clients send binary messages.'),
  fail_if_no_subprotocol: bool().default(true).describe('Refuse a WebSocket upgrade that names no subprotocol.'),
  supported_subprotocols: z.union([z.string(), z.array(z.string())])
    .default(['mqtt', 'mqttv3.1', 'mqttv3.1.1', 'mqtt5', 'mqtt-v3', 'mqtt-v3.1.1', 'mqtt-v5'])
    .transform((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v))
    .describe('Subprotocols accepted, a list or a comma-separated string.'),
  check_origin_enable: bool().default(false).describe('Check the Origin header of upgrade requests against check_origins (403 otherwise).'),
  allow_origin_absence: bool().default(true).describe('With check_origin_enable: accept requests without an Origin header (clients that are not browsers send none).'),
  check_origins: z.union([z.string(), z.array(z.string())]).default('http://localhost:18083, http://127.0.0.1:18083')
    .transform((v) => (typeof v === 'string' ? v.split(',') : v).map((s) => s.trim()).filter(Boolean))
    .describe('Origins accepted with check_origin_enable, a list or a comma-separated string, compared exactly.'),
  proxy_address_header: z.string().optional().describe('HTTP header holding the client\'s address behind a proxy, e.g. x-forwarded-for (its first address is used): logs, ACL ipaddr rules, bans and /api/v5/clients see it. EMQX trusts x-forwarded-for by default; Culex only when this is set, as any client can send the header.'),
  proxy_port_header: z.string().optional().describe('HTTP header holding the client\'s port behind a proxy, e.g. x-forwarded-port; read only when set.'),
})

export const wsListener = listenerSection({
  ...listenerCommon,
  bind: bindField(8083),
  tcp_options: tcpOptions,
  websocket: websocketOptions,
})

export const sslListener = listenerSection({
  ...listenerCommon,
  bind: bindField(8883),
  tcp_options: tcpOptions,
  ssl_options: sslListenerOptions,
})

export const wssListener = listenerSection({
  ...listenerCommon,
  bind: bindField(8084),
  tcp_options: tcpOptions,
  websocket: websocketOptions,
  ssl_options: sslOptions,
})

export const listeners = z.strictObject({
  tcp: z.record(z.string(), tcpListener).default({}).describe('Plain MQTT over TCP listeners.'),
  ssl: z.record(z.string(), sslListener).default({}).describe('MQTT over TLS listeners.'),
  ws: z.record(z.string(), wsListener).default({}).describe('MQTT over WebSocket listeners.'),
  wss: z.record(z.string(), wssListener).default({}).describe('MQTT over WebSocket over TLS listeners.'),
}).prefault({ tcp: { default: {} }, ssl: { default: {} }, ws: { default: {} }, wss: { default: {} } }).describe('Listeners by type and name; without this key, tcp 1883, ssl 8883, ws 8083 and wss 8084.')
