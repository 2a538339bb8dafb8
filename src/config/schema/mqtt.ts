// mqtt.*: the protocol limits and behaviours of every listener.
import { z } from 'zod'
import { bool, countOrInfinity, duration, durationOrDisabled, durationOrInfinity, int, size } from '../types.js'
import { compile, VariformError } from '../../mqtt/variform.js'
import { section, noEffect } from './marks.js'

/** A variform expression, parsed at load time so that a malformed one stops start-up with its key. */
const variformExpression = () => z.string().superRefine((v, ctx) => {
  try {
    compile(v)
  } catch (err) {
    if (!(err instanceof VariformError)) throw err
    ctx.addIssue({ code: 'custom', message: `bad expression ${JSON.stringify(v)}: ${err.message}` })
  }
})

export const mqtt = section({
  max_packet_size: size().prefault('1MB').describe('Largest MQTT packet accepted, checked from the fixed header before the body is read.'),
  max_clientid_len: int().pipe(z.number().min(23).max(65535)).default(65535).describe('Longest client identifier accepted.'),
  max_topic_levels: int().pipe(z.number().min(1)).default(128).describe('Most levels in a topic name or filter.'),
  max_qos_allowed: int().pipe(z.number().min(0).max(2)).default(2).describe('Highest QoS granted to subscriptions and accepted on PUBLISH.'),
  max_topic_alias: int().pipe(z.number().min(0).max(65535)).default(10).describe('Topic Alias Maximum the broker accepts from MQTT 5 clients (Mosquitto\'s default; EMQX\'s is 65535). An alias is set once its PUBLISH is authorized, and the topics count against force_shutdown.max_heap_size.'),
  retain_available: bool().default(true).describe('Whether retained messages are supported.'),
  wildcard_subscription: bool().default(true).describe('Whether wildcard subscriptions are allowed.'),
  shared_subscription: bool().default(true).describe('Whether $share/ subscriptions are allowed.'),
  shared_subscription_strategy: z.enum(['round_robin', 'round_robin_per_group', 'random', 'local', 'sticky', 'hash_clientid', 'hash_topic']).default('round_robin').describe('How a shared subscription group picks the member for each message. round_robin and round_robin_per_group both take the members in turn with one counter per group (EMQX keeps round_robin\'s counter per publisher); local: a member on the node the message arrived at when one is online, else random over the cluster.'),
  ignore_loop_deliver: bool().default(false).describe('Do not deliver a client its own messages (No Local for every subscription).'),
  strict_mode: noEffect(bool().default(false), 'Culex always checks UTF-8 strings as EMQX does in strict mode (ill-formed UTF-8 and U+0000 are malformed packets).'),
  idle_timeout: durationOrInfinity().prefault('15s').describe('Close a connection that sends no CONNECT within this time (infinity: never).'),
  keepalive_multiplier: z.number().min(1).default(1.5).describe('A client silent for keepalive × this is disconnected.'),
  server_keepalive: durationOrDisabled().prefault('disabled').describe('Keep Alive the broker imposes on MQTT 5 clients (seconds), or disabled.'),
  max_inflight: int().pipe(z.number().min(1).max(65535)).default(32).describe('Most unacknowledged QoS 1/2 messages sent to one client.'),
  retry_interval: durationOrInfinity(0).prefault('30s').describe('Resend an unacknowledged QoS 1/2 message after this long (0 or infinity, EMQX\'s default: only on reconnect).'),
  max_awaiting_rel: countOrInfinity().prefault(100).describe('Most incoming QoS 2 messages awaiting PUBREL; the Receive Maximum announced to MQTT 5 clients.'),
  await_rel_timeout: duration().prefault('300s').describe('Drop an incoming QoS 2 message whose PUBREL has not come within this time.'),
  session_expiry_interval: duration().prefault('2h').describe('Session expiry for MQTT 3 clients with clean_session = false, and the ceiling for MQTT 5.'),
  max_mqueue_len: countOrInfinity().transform((n) => (n === 0 ? Number.POSITIVE_INFINITY : n)).prefault(1000).describe('Most messages queued for one session; the oldest is dropped beyond it. 0 or infinity: no limit in count (as EMQX\'s mqueue); force_shutdown.max_heap_size still bounds the bytes.'),
  mqueue_store_qos0: bool().default(true).describe('Queue QoS 0 messages for offline sessions too.'),
  max_subscriptions: countOrInfinity().prefault('infinity').describe('Most subscriptions per client.'),
  max_write_buffer: size().prefault('8MB').describe('Unsent bytes a client\'s connection may hold (a slow consumer): above it QoS 0 messages to that client are dropped and counted; QoS 1/2 wait in its session (max_inflight). See force_shutdown.'),
  upgrade_qos: bool().default(false).describe('Deliver at the subscription QoS even when the message was published lower.'),
  peer_cert_as_username: z.enum(['disabled', 'cn', 'dn', 'crt', 'pem', 'md5']).default('disabled').describe('Take the user name from the verified client certificate: its CN, subject DN, DER (base64), PEM or the MD5 of the PEM.'),
  peer_cert_as_clientid: z.enum(['disabled', 'cn', 'dn', 'crt', 'pem', 'md5']).default('disabled').describe('Take the client identifier from the verified client certificate, as peer_cert_as_username.'),
  use_username_as_clientid: bool().default(false).describe('Replace the client identifier with the username.'),
  session_owner_check: bool().default(true).describe('Culex only (EMQX has no such key): refuse to resume a persistent session (CONNACK 0x87, MQTT 3.1.1: 5) for a client whose user name differs from that of the client the session belongs to. false: resume it. Either way a resumed session\'s subscriptions and queued messages are authorized again for the client resuming it.'),
  response_information: z.string().default('').describe('Response Information sent to MQTT 5 clients that request it.'),
  message_expiry_interval: countOrInfinity().prefault('infinity').describe('Expiry (seconds) of messages published without a Message Expiry Interval, which every MQTT 3 message is; infinity: they never expire.'),
  exclusive_subscription: bool().default(false).describe('Allow $exclusive/<filter> subscriptions: one client holds a filter\'s exclusive subscription at a time, another gets SUBACK 0x97 (Quota exceeded) until the holder unsubscribes or its session ends. Off (EMQX\'s default): $exclusive/ filters are refused with 0x8F (Topic Filter invalid), as EMQX does. Holds are per node.'),
  shared_subscription_initial_sticky_pick: z.enum(['random', 'local', 'hash_topic', 'hash_clientid']).default('random').describe('How the sticky strategy picks a group\'s member the first time, and again when that member goes offline or leaves: random (a member online), local (a member on the node that took the message when it has one online, else random over the cluster), hash_topic (the hash of the message\'s topic), hash_clientid (the hash of the publisher\'s client identifier), over the members online in the order they subscribed. The group then sticks to that member.'),
  keepalive_backoff: noEffect(z.number().optional(), 'replaced by keepalive_multiplier (EMQX 5.0\'s older name).'),
  keepalive_check_interval: noEffect(duration().prefault('30s'), 'Culex times each client\'s Keep Alive on its own.'),
  client_attrs_init: z.array(z.strictObject({
    expression: variformExpression().describe('Variform expression, e.g. nth(1, tokens(clientid, \'-\')), cn, user_property.tenant.'),
    set_as_attr: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'expected a name of letters, digits, - and _ (not starting with - or _)').describe('Name of the attribute: ${client_attrs.<name>} in ACL rules and backend requests.'),
  })).default([]).describe('Client attributes computed at CONNECT (EMQX 5.7+ variform expressions) from clientid, username, cn, dn, cert_san.dns|ip|email|uri (lists), peersni, peerhost, user_property.NAME, with nth, tokens, split, substr, concat, lower, upper, trim, replace, regex_extract, regex_match, regex_replace, coalesce, iif, pad, find, join_to_string...; an empty or failing result sets no attribute. Authenticators (JWT client_attrs, HTTP client_attrs) add theirs on top.'),
  clientid_override: z.union([z.literal('disabled'), variformExpression()]).default('disabled').describe('A variform expression (as client_attrs_init, with client_attrs.NAME bound too) whose result replaces the client identifier before the ban check and authentication; empty or failing: the client\'s own is kept. disabled: off.'),
  mqueue_priorities: z.union([z.literal('disabled'), z.record(z.string(), int().pipe(z.number().min(1).max(255)))]).default('disabled').describe('Priorities (1 to 255, higher first) of the messages a session queues (client offline, or its inflight window full), by exact topic: {"topic/1" = 10, "topic/2" = 8}; disabled: one queue in arrival order. Each priority is a queue of its own bounded by max_mqueue_len (its oldest dropped, as EMQX); a priority P sends up to (P + 1) × 10 messages in a row before a lower one that holds messages gets a turn. Over force_shutdown.max_heap_size the lowest priority is dropped first.'),
  mqueue_default_priority: z.enum(['highest', 'lowest']).default('lowest').describe('Priority of queued messages on topics mqueue_priorities does not list: highest (before every listed topic, with no limit on its turn) or lowest (after them). Used only with mqueue_priorities.'),
})
