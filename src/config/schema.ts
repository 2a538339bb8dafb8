// The single source for every configuration key: its type, default and doc line.
// docs/config.md is generated from this file (`npm run docs:config`), and a test keeps them in step.
import { z } from 'zod'
import { bind, bool, countOrInfinity, duration, durationOrDisabled, durationOrInfinity, EFFECTS, int, parseDuration, percent, rate, size, TYPE_NAMES, watermark } from './types.js'
import { parseAccessRule, splitAccessRules, type AccessRule } from './access-rules.js'

// Missing sections get their defaults: parse {} through the section schema.
const section = <T extends z.ZodRawShape>(shape: T) => z.strictObject(shape).prefault({} as never)

/**
 * A key, or a whole section, accepted for EMQX compatibility that never has an effect in Culex (Erlang VM
 * tuning and the like); `why` says why. Each such key set in a file gets one notice at start (and in culex check).
 */
function noEffect<T extends z.ZodType> (schema: T, why: string): T {
  const marked = schema.describe(`Accepted for EMQX compatibility; no effect: ${why}`) as T
  EFFECTS.set(marked, { status: 'never', why })
  return marked
}

/**
 * A key, or a whole section, of an EMQX feature Culex has not built yet (`feature` names it): accepted with
 * EMQX's type and default, without effect, and said so at start for each such key set.
 */
function notYet<T extends z.ZodType> (schema: T, feature: string, doc = ''): T {
  const marked = schema.describe(`${doc ? `${doc} ` : ''}Not yet implemented in Culex (${feature}): accepted without effect.`) as T
  EFFECTS.set(marked, { status: 'not-yet', why: feature })
  return marked
}

const ERLANG = 'an Erlang VM setting, Node has no equivalent'
const erlang = <T extends z.ZodType>(schema: T): T => noEffect(schema, ERLANG)
const enabled = z.enum(['enabled', 'disabled'])
const nodeList = () => z.union([z.string(), z.array(z.string())])

export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency', 'all', 'none'] as const

const ERLANG_LOGGER = 'a setting of Erlang\'s logger; Culex writes each line as it comes.'

const logHandler = {
  enable: bool().default(true).describe('Whether this log handler writes.'),
  level: z.enum(LOG_LEVELS).default('notice').describe('Lowest level written: debug, info, notice, warning, error, critical. notice (EMQX: warning) shows a line per listener and one when started, as Mosquitto does; an embedded broker (createBroker) writes warning and above unless configured.'),
  formatter: z.enum(['text', 'json']).default('text').describe('text for people, json for log shippers.'),
  time_offset: z.string().regex(/^([-+][0-1][0-9]:[0-6][0-9]|system|utc)$/, 'expected system, utc or an offset such as +08:00 or -02:00').default('system')
    .describe('Time zone of the text format\'s timestamps: system (the host\'s local time), utc, or an offset such as "+08:00".'),
  timestamp_format: notYet(z.enum(['auto', 'epoch', 'rfc3339']).default('auto'), 'timestamp formats other than the text format\'s RFC 3339 and json\'s epoch milliseconds'),
  chars_limit: notYet(z.union([z.literal('unlimited'), int().pipe(z.number().min(100))]).default('unlimited'), 'truncating long log lines'),
  single_line: noEffect(bool().default(true), 'Culex\'s lines are always single lines (control characters are escaped).'),
  sync_mode_qlen: noEffect(int().default(100), ERLANG_LOGGER),
  drop_mode_qlen: noEffect(int().default(3000), ERLANG_LOGGER),
  flush_qlen: noEffect(int().default(8000), ERLANG_LOGGER),
  overload_kill: noEffect(section({
    enable: bool().default(true),
    mem_size: size().prefault('30MB'),
    qlen: int().default(20000),
    restart_after: z.union([z.literal('infinity'), duration()]).prefault('5s'),
  }), ERLANG_LOGGER),
  burst_limit: notYet(section({
    enable: bool().default(true),
    max_count: int().pipe(z.number().min(1)).default(10000),
    window_time: duration().prefault('1s'),
  }), 'log burst limits'),
  supervisor_reports: noEffect(z.enum(['error', 'progress']).default('error'), 'Erlang supervisor reports do not exist in Node.'),
  max_depth: noEffect(z.union([z.literal('unlimited'), int()]).default(100), ERLANG_LOGGER),
  with_mfa: noEffect(bool().default(false), 'Erlang module/function/arity do not exist in Node.'),
  payload_encode: notYet(z.enum(['hex', 'text', 'hidden']).default('text'), 'payload encodings in log lines'),
}

// EMQX's fields of a log file handler: `log.file { level = ... }` is the handler named default.
const LOG_FILE_FIELDS = new Set(['enable', 'level', 'formatter', 'path', 'rotation_count', 'rotation_size', ...Object.keys(logHandler)])

const node = section({
  name: z.string().default('culex@127.0.0.1').describe('Node name, shown in $SYS topics and the API; unique within a cluster (a second node with the same name refuses to start).'),
  data_dir: z.string().default('data').describe('Directory for sessions, certificates and registries.'),
  cookie: noEffect(z.string().optional(), 'Culex nodes do not use Erlang cookies.'),
  workers: z.union([z.literal('auto'), int().pipe(z.number().min(1).max(256))]).default(1).describe('Broker processes on this host (`culex start` only; embedded brokers are one). auto: one per CPU core. More than 1: the workers share every listener, route messages to each other and keep one session per client through their primary process, without Redis; each is named <name>-w<i> (before the @) and keeps its durable store in node.data_dir/store-w<i>. Not combined with cluster.backend = redis.'),
  // EMQX's other node keys tune the Erlang VM and its distribution.
  process_limit: erlang(int().optional()),
  max_ports: erlang(int().default(1048576)),
  dist_buffer_size: erlang(int().default(8192)),
  max_ets_tables: erlang(int().default(262144)),
  config_files: noEffect(z.array(z.string()).optional(), 'Culex reads the file given with -c (and what it includes).'),
  global_gc_interval: noEffect(durationOrDisabled().prefault('disabled'), 'Node\'s garbage collector runs on its own; a forced global collection needs --expose-gc.'),
  crash_dump_file: erlang(z.string().optional()),
  crash_dump_seconds: erlang(duration().prefault('30s')),
  crash_dump_bytes: erlang(size().prefault('100MB')),
  dist_net_ticktime: erlang(duration().prefault('2m')),
  backtrace_depth: erlang(int().default(23)),
  applications: erlang(z.string().default('')),
  etc_dir: noEffect(z.string().optional(), 'relative paths are relative to the working directory; ${EMQX_ETC_DIR} in a file path is the environment variable, else the configuration file\'s directory.'),
  cluster_call: noEffect(section({
    retry_interval: duration().prefault('1m'),
    max_history: int().pipe(z.number().min(100).max(10240)).default(1024),
    cleanup_interval: duration().prefault('24h'),
  }), 'Culex nodes share configuration changes through cluster.backend = redis, not a cluster-call log.'),
  db_backend: noEffect(z.enum(['mnesia', 'rlog']).default('rlog'), 'Culex keeps no Mnesia database.'),
  role: noEffect(z.enum(['core', 'replicant']).default('core'), 'every Culex node has the same role.'),
  rpc_module: erlang(z.enum(['gen_rpc', 'rpc']).default('rpc')),
  tlog_push_mode: noEffect(z.enum(['sync', 'async']).default('async'), 'Culex keeps no Mnesia database.'),
  default_shard_transport: noEffect(z.enum(['gen_rpc', 'distr']).default('distr'), 'Culex keeps no Mnesia database.'),
  shard_transports: noEffect(z.record(z.string(), z.enum(['gen_rpc', 'distr'])).default({}), 'Culex keeps no Mnesia database.'),
  default_bootstrap_batch_size: noEffect(int().default(500), 'Culex keeps no Mnesia database.'),
  broker_pool_size: erlang(int().optional()),
  generic_pool_size: erlang(int().optional()),
  channel_cleanup_batch_size: erlang(int().default(100000)),
})

const log = section({
  console: section({ ...logHandler }).describe('Log to standard output.'),
  file: z.preprocess(defaultLogFile, z.record(z.string(), section({
    ...logHandler,
    enable: bool().default(false).describe('Whether this log file is written.'),
    path: z.string().default('log/culex.log').describe('File to append log lines to.'),
    rotation_count: notYet(int().pipe(z.number().min(1).max(128)).default(10), 'log file rotation'),
    rotation_size: notYet(z.union([z.literal('infinity'), size()]).prefault('50MB'), 'log file rotation'),
  }))).default({}).describe('Named log files, e.g. log.file.default { enable = true, path = "log/culex.log" }; EMQX\'s log.file { level = warning, ... } (handler fields right under log.file) is the one named default.'),
  throttling: notYet(section({
    time_window: duration().prefault('1m'),
    msgs: z.array(z.string()).optional(),
  }), 'throttling repeated log lines'),
})

/** `log.file { level = warning }` (EMQX's unnamed handler) as `log.file.default { level = warning }`. */
function defaultLogFile (value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value
  const entries = Object.entries(value)
  const unnamed = entries.filter(([key]) => LOG_FILE_FIELDS.has(key))
  if (unnamed.length === 0) return value
  const named = Object.fromEntries(entries.filter(([key]) => !LOG_FILE_FIELDS.has(key)))
  const existing = named.default
  return { ...named, default: { ...Object.fromEntries(unnamed), ...(existing !== null && typeof existing === 'object' ? existing : {}) } }
}

const mqtt = section({
  max_packet_size: size().prefault('1MB').describe('Largest MQTT packet accepted, checked from the fixed header before the body is read.'),
  max_clientid_len: int().pipe(z.number().min(23).max(65535)).default(65535).describe('Longest client identifier accepted.'),
  max_topic_levels: int().pipe(z.number().min(1)).default(128).describe('Most levels in a topic name or filter.'),
  max_qos_allowed: int().pipe(z.number().min(0).max(2)).default(2).describe('Highest QoS granted to subscriptions and accepted on PUBLISH.'),
  max_topic_alias: int().pipe(z.number().min(0).max(65535)).default(10).describe('Topic Alias Maximum the broker accepts from MQTT 5 clients (Mosquitto\'s default; EMQX\'s is 65535). An alias is set once its PUBLISH is authorized, and the topics count against force_shutdown.max_heap_size.'),
  retain_available: bool().default(true).describe('Whether retained messages are supported.'),
  wildcard_subscription: bool().default(true).describe('Whether wildcard subscriptions are allowed.'),
  shared_subscription: bool().default(true).describe('Whether $share/ subscriptions are allowed.'),
  shared_subscription_strategy: z.enum(['round_robin', 'random', 'sticky', 'hash_clientid', 'hash_topic']).default('round_robin').describe('How a shared subscription group picks the member for each message.'),
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
  max_mqueue_len: countOrInfinity().prefault(1000).describe('Most messages queued for one session; the oldest is dropped beyond it.'),
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
  shared_subscription_initial_sticky_pick: notYet(z.enum(['random', 'local', 'hash_topic', 'hash_clientid']).default('random'), 'the sticky strategy\'s first pick', 'How the sticky strategy picks a group\'s member the first time.'),
  keepalive_backoff: noEffect(z.number().optional(), 'replaced by keepalive_multiplier (EMQX 5.0\'s older name).'),
  keepalive_check_interval: noEffect(duration().prefault('30s'), 'Culex times each client\'s Keep Alive on its own.'),
  client_attrs_init: notYet(z.array(z.strictObject({
    expression: z.string(),
    set_as_attr: z.string(),
  })).default([]), 'client attributes from expressions', 'Client attributes computed at CONNECT from variform expressions.'),
  clientid_override: notYet(z.string().default('disabled'), 'client identifier expressions', 'A variform expression that replaces the client identifier, or disabled.'),
  mqueue_priorities: notYet(z.union([z.literal('disabled'), z.record(z.string(), int())]).default('disabled'), 'message queue priorities', 'Priority of queued messages per topic, or disabled.'),
  mqueue_default_priority: notYet(z.enum(['highest', 'lowest']).default('lowest'), 'message queue priorities', 'Priority of queued messages on topics mqueue_priorities does not list.'),
})

// ---- authentication (EMQX `authentication = [ ... ]`, global or per listener) ----

const jwtAuthenticator = z.strictObject({
  mechanism: z.literal('jwt'),
  enable: bool().default(true).describe('Whether this authenticator is asked.'),
  from: z.enum(['password', 'username']).default('password').describe('CONNECT field that carries the token.'),
  use_jwks: bool().default(false).describe('Verify with keys fetched from a JWKS endpoint instead of a configured secret or key.'),
  algorithm: z.enum(['hmac-based', 'public-key']).default('hmac-based').describe('Without JWKS: hmac-based (HS256/384/512 with secret) or public-key (RS/PS/ES with public_key).'),
  secret: z.string().default('').describe('HMAC secret (hmac-based).'),
  secret_base64_encoded: bool().default(false).describe('The secret is base64: decode it before use.'),
  public_key: z.string().default('').describe('PEM public key (public-key).'),
  endpoint: z.string().default('').describe('JWKS URL (use_jwks = true).'),
  headers: z.record(z.string(), z.string()).default({ Accept: 'application/json' }).describe('HTTP headers sent to the JWKS endpoint.'),
  refresh_interval: z.union([z.number(), z.string()]).default(300).transform((v, ctx) => {
    const ms = typeof v === 'number' ? v * 1000 : parseDuration(v)
    if (ms === undefined || ms <= 0) { ctx.addIssue({ code: 'custom', message: 'expected seconds or a duration' }); return z.NEVER }
    return ms
  }).describe('JWKS refresh interval: seconds, or a duration.'),
  ssl: z.strictObject({
    enable: bool().default(false),
    verify: z.enum(['verify_none', 'verify_peer']).default('verify_peer'),
    cacertfile: z.string().optional(),
    certfile: z.string().optional(),
    keyfile: z.string().optional(),
    server_name_indication: z.string().optional(),
  }).prefault({}).describe('TLS of the JWKS fetch (an https:// endpoint always uses TLS): verify = verify_peer | verify_none, cacertfile, certfile, keyfile (client certificate), server_name_indication ("disable" sends none).'),
  verify_claims: z.record(z.string(), z.string()).default({}).describe('Claims that must equal these values; ${clientid} and ${username} expand.'),
  acl_claim_name: z.string().default('acl').describe('Claim holding the client\'s ACL (old pub/sub/all lists or the new rule list).'),
  disconnect_after_expire: bool().default(true).describe('Disconnect the client when its token expires (MQTT 5: DISCONNECT 0x87).'),
})

const certAuthenticator = z.strictObject({
  mechanism: z.literal('cert'),
  enable: bool().default(true).describe('Whether this authenticator is asked.'),
})

// EMQX's password_hash_algorithm: simple hashes with a salt position, bcrypt, pbkdf2.
const passwordHashAlgorithm = z.discriminatedUnion('name', [
  z.strictObject({
    name: z.enum(['plain', 'md5', 'sha', 'sha256', 'sha512']),
    salt_position: z.enum(['prefix', 'suffix', 'disable']).default('prefix').describe('Where the salt goes: before or after the password, or none.'),
  }),
  z.strictObject({
    name: z.literal('bcrypt'),
    // As EMQX: clamped to 5..10.
    salt_rounds: int().default(10).transform((n) => Math.min(10, Math.max(5, n))).describe('bcrypt cost factor (5 to 10).'),
  }),
  z.strictObject({
    name: z.literal('pbkdf2'),
    mac_fun: z.enum(['md5', 'ripemd160', 'sha', 'sha224', 'sha256', 'sha384', 'sha512']).describe('PBKDF2 pseudorandom function.'),
    iterations: int().pipe(z.number().min(1)).describe('PBKDF2 iteration count.'),
    dk_length: int().pipe(z.number().min(1)).optional().describe('Derived key length in bytes; default the mac_fun output length.'),
  }),
]).prefault({ name: 'sha256', salt_position: 'prefix' })

export const passwordAuthenticator = z.strictObject({
  mechanism: z.literal('password_based'),
  backend: z.literal('built_in_database'),
  enable: bool().default(true).describe('Whether this authenticator is asked.'),
  user_id_type: z.enum(['username', 'clientid']).default('username').describe('CONNECT field looked up as the user_id.'),
  password_hash_algorithm: passwordHashAlgorithm.describe('How passwords are hashed: { name = sha256, salt_position = prefix }, { name = bcrypt, salt_rounds = 10 }, { name = pbkdf2, mac_fun = sha256, iterations = 4096 }.'),
  bootstrap_file: z.string().default('').describe('Users imported at start when the store is empty: .csv with a header line, or .json (an array).'),
  bootstrap_type: z.enum(['plain', 'hash']).default('plain').describe('plain: the file has user_id,password[,is_superuser]; hash: user_id,password_hash,salt[,is_superuser].'),
})

export const scramAuthenticator = z.strictObject({
  mechanism: z.literal('scram'),
  backend: z.literal('built_in_database'),
  enable: bool().default(true).describe('Whether this authenticator is asked.'),
  algorithm: z.enum(['sha256', 'sha512']).default('sha256').describe('SCRAM hash: sha256 serves Authentication Method SCRAM-SHA-256, sha512 SCRAM-SHA-512.'),
  iteration_count: int().pipe(z.number().min(1)).default(4096).describe('PBKDF2 iterations for the keys of users added from now on.'),
  bootstrap_file: z.string().default('').describe('Users (plain passwords: user_id,password[,is_superuser]) imported at start when the store is empty: .csv or .json.'),
})

/**
 * Every authenticator shape, discriminated on `mechanism`: a new mechanism (password_based, ...) is one
 * more member of this list.
 */
export const AUTHENTICATOR_SCHEMAS = [jwtAuthenticator, certAuthenticator, passwordAuthenticator, scramAuthenticator] as const

export const authenticationList = z.array(z.discriminatedUnion('mechanism', AUTHENTICATOR_SCHEMAS))

export type AuthenticatorConfig = z.output<typeof authenticationList>[number]
export type JwtAuthenticatorConfig = z.output<typeof jwtAuthenticator>
export type PasswordAuthenticatorConfig = z.output<typeof passwordAuthenticator>
export type ScramAuthenticatorConfig = z.output<typeof scramAuthenticator>

const bindField = (port: number) => bind().prefault(`0.0.0.0:${port}`).describe('Address and port, "0.0.0.0:1883", ":1883" or a port number.')

// ---- listeners (EMQX 5.8's mqtt_listener, tcp_opts, ws_opts, listener_ssl_opts) ----

const NO_EFFECT_ERLANG = 'Accepted for EMQX compatibility; no effect: an Erlang/esockd setting Node has no counterpart for.'

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
  access_rules: accessRules.describe('Who may connect, checked at accept before TLS or HTTP: "allow|deny all" or "allow|deny ADDRESS[/PREFIX]" (IPv4 or IPv6), e.g. ["allow 10.0.0.0/8", "deny all"]; the first matching rule decides, no match allows. Refused connections are closed and logged (info). Culex applies them on ws and wss listeners too (EMQX only on tcp and ssl).'),
  proxy_protocol: bool().default(false).describe('Accepted for EMQX compatibility; no effect yet: Culex does not read PROXY protocol headers, so a load balancer must not send them.'),
  proxy_protocol_timeout: duration().prefault('3s').describe('Accepted for EMQX compatibility; no effect (see proxy_protocol).'),
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

const tcpListener = listenerSection({
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

const wsListener = listenerSection({
  ...listenerCommon,
  bind: bindField(8083),
  tcp_options: tcpOptions,
  websocket: websocketOptions,
})

export const TLS_VERSIONS = ['tlsv1.3', 'tlsv1.2', 'tlsv1.1', 'tlsv1'] as const

const stringList = () => z.union([z.string(), z.array(z.string())])
  .transform((v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v))

const sslOptionsShape = {
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
  crlfile: z.string().default('').describe('PEM file of certificate revocation lists (Mosquitto\'s crlfile): a revoked client certificate is refused.'),
  verify_peer_ext_key_usage: z.string().default('').describe('Require this Extended Key Usage in client certificates: clientAuth, serverAuth or an OID.'),
  secure_renegotiate: bool().default(true).describe('Accepted for EMQX compatibility; Culex never allows insecure renegotiation.'),
  client_renegotiation: bool().default(true).describe('Let TLS 1.2 clients start a renegotiation (Node allows 3 per 10 minutes); false refuses it. TLS 1.3 has none.'),
  dhfile: z.string().optional().describe('PEM file of Diffie-Hellman parameters, enabling the DHE cipher suites of TLS 1.2 (without it only ECDHE ones are offered).'),
  cacerts: bool().default(false).describe('Accepted for EMQX compatibility (deprecated there since 5.1.4); no effect: cacertfile names the CAs.'),
  user_lookup_fun: z.string().default('emqx_tls_psk:lookup').describe('Accepted for EMQX compatibility (an Erlang function name); no effect: psk_authentication supplies the PSK lookup.'),
  hibernate_after: duration().prefault('5s').describe('Accepted for EMQX compatibility (an Erlang process setting); no effect.'),
  gc_after_handshake: bool().default(false).describe('Accepted for EMQX compatibility (an Erlang process setting); no effect.'),
  log_level: z.string().default('notice').describe('Accepted for EMQX compatibility; handshake failures are logged at warning.'),
  managed_certs: z.array(z.strictObject({
    namespace: z.string().optional().describe('Namespace of the bundle; omitted = global.'),
    bundle_name: z.string().describe('Name of a bundle in the certificate store (/api/v5/certs).'),
    sni: z.string().default('').describe('Server name that selects this bundle: exact, or *.example.com for one label.'),
  })).default([]).describe('Managed certificate bundles instead of certfile/keyfile: the SNI picks one, the first is the default.'),
}

const sslOptions = section(sslOptionsShape)

const ocsp = section({
  enable_ocsp_stapling: bool().default(false).describe('Staple the OCSP response for the server certificate to handshakes whose client asks for it (openssl s_client -status).'),
  responder_url: z.string().default('').describe('HTTP URL of the OCSP responder for the server certificate.'),
  issuer_pem: z.string().default('').describe('PEM file of the CA that issued the server certificate (OCSP requests name it).'),
  refresh_interval: duration().prefault('5m').describe('How often the OCSP response is fetched again; a failed fetch keeps the last good response until it expires.'),
  refresh_http_timeout: duration().prefault('15s').describe('Timeout of one request to the OCSP responder.'),
})

// ssl listeners only (EMQX): OCSP stapling, CRL distribution points and the device-certificate registry.
const sslListenerOptions = section({
  ...sslOptionsShape,
  ocsp,
  enable_crl_check: bool().default(false).describe('With verify_peer: fetch the CRLs named in client certificates\' CRL distribution points (HTTP, cached, see crl_cache) and refuse revoked certificates, and those whose status cannot be determined (as EMQX): a certificate without a distribution point needs crlfile or a cached CRL of its issuer.'),
  device_registry: bool().default(false).describe('With verify_peer: admit client certificates only from CAs registered and active in the device-certificate registry (/api/v5/ca_certs), which also become trusted; each device certificate is registered on its first connection and can be deactivated.'),
})

const sslListener = listenerSection({
  ...listenerCommon,
  bind: bindField(8883),
  tcp_options: tcpOptions,
  ssl_options: sslListenerOptions,
})

const wssListener = listenerSection({
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
  sys_event_messages: section({
    client_connected: bool().default(true).describe('Publish $SYS/brokers/<node>/clients/<clientid>/connected.'),
    client_disconnected: bool().default(true).describe('Publish $SYS/brokers/<node>/clients/<clientid>/disconnected.'),
    client_subscribed: bool().default(false).describe('Publish $SYS/brokers/<node>/clients/<clientid>/subscribed.'),
    client_unsubscribed: bool().default(false).describe('Publish $SYS/brokers/<node>/clients/<clientid>/unsubscribed.'),
  }).describe('JSON event messages (EMQX\'s fields) as clients connect, disconnect, subscribe and unsubscribe; QoS 0, not retained. A client id with %, /, +, # or control characters is percent-encoded in the topic, to stay one level.'),
})

const retainer = z.strictObject({
  enable: bool().default(true).describe('Whether retained messages are stored.'),
  max_payload_size: size().prefault('1MB').describe('Largest retained payload kept.'),
  msg_expiry_interval: duration().prefault('0s').describe('Retained messages expire after this long (0 = never).'),
  max_retained_messages: int().pipe(z.number().min(0)).default(0).describe('Most retained messages (0 = no limit); EMQX 5 writes it as backend.max_retained_messages, which applies when this is 0.'),
  msg_expiry_interval_override: notYet(durationOrDisabled().prefault('disabled'), 'overriding retained messages\' own expiry', 'Expiry given to every retained message instead of its own, or disabled.'),
  allow_never_expire: notYet(bool().default(true), 'overriding retained messages\' own expiry', 'With msg_expiry_interval_override: whether a message without expiry keeps none.'),
  msg_clear_interval: duration().prefault('0s').describe('How often expired retained messages are removed from the store (0 = never: they are skipped when delivered, and stay).'),
  msg_clear_limit: int().pipe(z.number().min(1)).default(50000).describe('Most expired retained messages removed at each msg_clear_interval.'),
  flow_control: noEffect(section({
    batch_read_number: int().default(0),
    batch_deliver_number: int().default(0),
    batch_deliver_limiter: z.record(z.string(), z.unknown()).optional(),
  }), 'EMQX\'s internal batching of retained deliveries.'),
  stop_publish_clear_msg: bool().default(false).describe('Do not forward a retained message with an empty payload (which clears the topic\'s retained message) to subscribers; it still clears the topic.'),
  delivery_rate: rate().prefault('1000/s').describe('Retained messages a new subscription is sent, at most this many per period: in batches of the amount, one batch per period (infinity = all at once).'),
  max_publish_rate: rate().prefault('1000/s').describe('Retained messages stored (or cleared) per period on this node; past it a retained message is delivered but not stored, as in EMQX (infinity = no limit).'),
  backend: section({
    type: z.literal('built_in_database').default('built_in_database').describe('Where retained messages are kept: built_in_database (Culex\'s data store, see durable_storage.backend).'),
    storage_type: noEffect(z.enum(['ram', 'disc']).default('ram'), 'durable_storage.backend decides where retained messages are kept.'),
    max_retained_messages: int().pipe(z.number().min(0)).default(0).describe('Most retained messages (0 = no limit); retainer.max_retained_messages, when set, wins.'),
    index_specs: noEffect(z.array(z.array(int())).optional(), 'Culex indexes retained topics its own way.'),
    enable: bool().default(true).describe('Whether this backend is used (the only one Culex has).'),
  }).describe('EMQX\'s retained message store.'),
}).transform(({ backend, ...rest }) => ({
  ...rest,
  backend,
  max_retained_messages: rest.max_retained_messages || backend.max_retained_messages,
})).prefault({})

// dashboard.* besides its listeners.
const dashboardSettings = {
  default_username: notYet(z.string().default('admin'), 'dashboard login', 'User name of the dashboard\'s first administrator.'),
  default_password: notYet(z.string().default('public'), 'dashboard login', 'Password of default_username until changed.'),
  sample_interval: noEffect(duration().prefault('10s'), 'Culex has no dashboard monitor to sample for; /api/v5/stats and /api/v5/prometheus/stats are read live.'),
  token_expired_time: notYet(duration().prefault('60m'), 'dashboard login', 'Lifetime of a dashboard login token.'),
  cors: notYet(bool().default(false), 'CORS headers on the management API', 'Answer cross-origin requests to the management API.'),
  swagger_support: noEffect(bool().default(true), 'Culex always serves the OpenAPI document (/api-docs/swagger.json).'),
  i18n_lang: noEffect(z.enum(['en', 'zh']).default('en'), 'Culex has no dashboard UI.'),
  bootstrap_users_file: notYet(z.string().default(''), 'dashboard login', 'Dashboard users imported at start.'),
}

// ---- dashboard.listeners (EMQX 5.8's emqx_dashboard_schema "http", "https") ----

const dashboardListenerCommon = {
  num_acceptors: int().pipe(z.number().min(1)).optional().describe(NO_EFFECT_ERLANG + ' (EMQX\'s default: one per scheduler.)'),
  max_connections: int().pipe(z.number().min(1)).default(512).describe('Most concurrent connections to the management API; further ones are closed at accept.'),
  backlog: int().pipe(z.number().min(1)).default(1024).describe('Pending connections the kernel keeps.'),
  send_timeout: duration().prefault('10s').describe('Accepted for EMQX compatibility; no effect: a slow API client only holds its own response.'),
  inet6: bool().default(false).describe('Listen on IPv6: a bind without an address (a port, or 0.0.0.0) listens on :: instead of 0.0.0.0.'),
  ipv6_v6only: bool().default(false).describe('With an IPv6 address: accept IPv6 connections only (else IPv4 ones arrive too, as ::ffff:a.b.c.d).'),
  proxy_header: bool().default(false).describe('Accepted for EMQX compatibility; no effect yet: Culex does not read PROXY protocol headers on the management API.'),
}

const dashboardListeners = section({
  http: section({
    enable: bool().default(true).describe('Whether the management API (/api/v5) is served.'),
    bind: bind().prefault(18083).describe('Port, or "ip:port", of the management API (0 = a port the OS picks). Without an API key it listens on 127.0.0.1 whatever this says.'),
    ...dashboardListenerCommon,
  }).describe('The management HTTP API listener (EMQX\'s dashboard listener).'),
  https: section({
    enable: bool().default(false).describe('Whether the HTTPS listener is served (see the section).'),
    bind: bind().prefault(18084).describe('Port, or "ip:port", of the HTTPS listener.'),
    ssl_options: sslOptions,
    ...dashboardListenerCommon,
  }).describe('Accepted for EMQX compatibility; no effect: Culex serves the management API over http only (put a TLS proxy in front, or use the ssl listeners\' certificates there).'),
}).describe('Listeners of the management API.')

const dashboard = section({
  ...dashboardSettings,
  listeners: dashboardListeners,
})

const apiKey = section({
  bootstrap_file: z.string().default('').describe('File of API keys for the management API: one key:secret per line, optionally :role (administrator, viewer, publisher), # comments. Clients send them as HTTP basic auth.'),
})

// ---- authorization (EMQX `authorization { sources = [ ... ] }`) ----

const fileAuthzSource = z.strictObject({
  type: z.literal('file'),
  enable: bool().default(true).describe('Whether this source is asked.'),
  path: z.string().default('etc/acl.conf').describe('acl.conf file of Erlang-term rules, read at start.'),
  rules: z.string().optional().describe('The acl.conf text inline; used instead of path when given.'),
})

export const AUTHZ_SOURCE_SCHEMAS = [fileAuthzSource] as const

const authorization = section({
  no_match: z.enum(['allow', 'deny']).default('allow').describe('Decision when no source has a matching rule.'),
  deny_action: z.enum(['ignore', 'disconnect']).default('ignore').describe('On a denied PUBLISH or SUBSCRIBE: ignore (reason code 0x87/0x80, or drop) or disconnect the client.'),
  cache: section({
    enable: bool().default(true).describe('Cache each client\'s decisions until it disconnects.'),
    max_size: int().pipe(z.number().min(1)).default(32).describe('Most cached decisions per client; the oldest goes first.'),
    ttl: duration().prefault('1m').describe('How long a cached decision is used.'),
    excludes: notYet(z.array(z.string()).optional(), 'authorization cache exclusions', 'Topic filters whose decisions are never cached.'),
  }),
  sources: z.array(z.discriminatedUnion('type', AUTHZ_SOURCE_SCHEMAS)).default([])
    .describe('Rule sources asked in order after the token ACL: { type = file, path = "etc/acl.conf" } or { type = file, rules = "..." }.'),
})

export type AuthorizationConfig = z.output<typeof authorization>
export type AuthzSourceConfig = AuthorizationConfig['sources'][number]

const pskAuthentication = section({
  enable: bool().default(false).describe('TLS-PSK on the ssl listeners (list PSK cipher suites in their ciphers and versions = [tlsv1.2]).'),
  init_file: z.string().default('').describe('File of PSKIdentity<separator>SharedSecret lines; a secret of hex digits is decoded, any other is taken as text.'),
  separator: z.string().min(1).default(':').describe('Separator between identity and secret in init_file.'),
  chunk_size: int().pipe(z.number().min(1)).default(50).describe('Accepted for EMQX compatibility (its import batch size); no effect.'),
})

const durableStorage = section({
  backend: z.enum(['lmdb', 'memory']).default('lmdb').describe('lmdb keeps persistent sessions, retained messages and the device registry in node.data_dir/store across restarts; memory keeps them only while the process runs (tests, embedding).'),
})

// EMQX's force_shutdown acts on an Erlang process's mailbox and heap; Node has no heap per connection, so
// max_heap_size bounds the bytes a client pins instead (src/mqtt/memory.ts).
const forceShutdown = section({
  enable: bool().default(true).describe('Bound what one client holds in memory and disconnect slow consumers (MQTT 5: DISCONNECT 0x97 Quota exceeded) as the keys below say.'),
  max_heap_size: size().prefault('32MB').describe('Bytes one client may pin: its topic aliases, subscriptions, queued and in-flight messages, will and partial packet (0 = no limit). Over it the client is disconnected (checked at once for aliases, every 0.5 s for the rest); a SUBSCRIBE that would pass it gets 0x97 for the new filters, and its session\'s queue drops the oldest messages beyond it. Unsent data over it disconnects a slow consumer too. Keep it above mqtt.max_write_buffer.'),
  write_buffer_timeout: duration().prefault('10s').describe('A client whose unsent bytes stay above mqtt.max_write_buffer this long, while messages keep coming, is disconnected.'),
  max_mailbox_size: noEffect(int().pipe(z.number().min(0)).default(1000), 'an Erlang mailbox; mqtt.max_mqueue_len and the keys above bound a client instead.'),
})

const overloadProtection = section({
  enable: bool().default(true).describe('Refuse new connections while the broker\'s memory is above mem_high_watermark.'),
  mem_high_watermark: watermark().prefault('80%').describe('Resident memory above which new connections are closed at accept (logged, counted) until it falls back: a size, or a percentage of the memory the process may use (its cgroup limit, else the host\'s).'),
  backoff_delay: erlang(int().pipe(z.number().min(0)).default(1)),
  backoff_gc: erlang(bool().default(false)),
  backoff_hibernation: erlang(bool().default(true)),
  backoff_new_conn: noEffect(bool().default(true), 'Culex always refuses new connections while overloaded (see enable).'),
})

const crlCache = section({
  refresh_interval: duration().prefault('15m').describe('How often a cached CRL is fetched again from its distribution point; a failed fetch is logged and the last good CRL kept.'),
  http_timeout: duration().prefault('15s').describe('Timeout of one CRL fetch.'),
  capacity: int().pipe(z.number().min(1)).default(100).describe('Most CRL distribution points cached; the least recently used goes first.'),
})

// EMQX's ssl_client_opts, for the TLS of connections Culex does not make (etcd discovery).
const sslClientShape = {
  enable: bool().default(false),
  cacertfile: z.string().optional(),
  cacerts: bool().optional(),
  certfile: z.string().optional(),
  keyfile: z.string().optional(),
  verify: z.enum(['verify_none', 'verify_peer']).default('verify_none'),
  reuse_sessions: bool().default(true),
  depth: int().default(10),
  password: z.string().optional(),
  versions: z.array(z.string()).optional(),
  ciphers: z.union([z.string(), z.array(z.string())]).optional(),
  secure_renegotiate: bool().default(true),
  log_level: z.string().default('notice'),
  hibernate_after: duration().prefault('5s'),
  server_name_indication: z.string().optional(),
  user_lookup_fun: z.string().optional(),
  partial_chain: z.union([z.boolean(), z.string()]).optional(),
  verify_peer_ext_key_usage: z.string().optional(),
}

// ---- cluster (Redis as the shared engine: message bus, retained messages, session ownership) ----

const REDIS_SERVER = /^(\[[0-9a-fA-F:.]+\]|[^\s:,]+)(:\d{1,5})?$/

const cluster = section({
  backend: z.enum(['none', 'redis']).default('none').describe('none: a single node. redis: nodes sharing one Redis form a cluster (messages, retained messages, shared subscription groups, session takeover, kicks, bans and management API changes reach every node; the persistent sessions of a node that stops are adopted by another).'),
  redis: section({
    servers: z.string().regex(REDIS_SERVER, 'expected "host:port", e.g. "127.0.0.1:6379"').default('127.0.0.1:6379').describe('Redis server, "host:port" (port 6379 when omitted).'),
    password: z.string().default('').describe('Redis password (AUTH); empty = none.'),
    username: z.string().default('').describe('Redis ACL user name; empty = the default user.'),
    database: int().pipe(z.number().min(0)).default(0).describe('Redis database number (SELECT) for the cluster\'s hashes; channels are server-wide, see key_prefix.'),
    key_prefix: z.string().min(1).default('culex').describe('Prefix of every key and channel the cluster uses: clusters sharing one Redis need different prefixes.'),
    tls: section({
      enable: bool().default(false).describe('Connect to Redis over TLS.'),
      cacertfile: z.string().optional().describe('PEM file of the CAs that verify the Redis server.'),
      certfile: z.string().optional().describe('Client certificate (PEM) for Redis servers that ask for one.'),
      keyfile: z.string().optional().describe('Key of certfile (PEM).'),
      verify: z.enum(['verify_peer', 'verify_none']).default('verify_peer').describe('verify_peer checks the Redis server\'s certificate and name; verify_none does not.'),
    }).describe('TLS to Redis.'),
  }).describe('The Redis server every node of the cluster uses.'),
  heartbeat_interval: duration().prefault('1s').describe('How often a node tells Redis it is alive.'),
  node_timeout: duration().prefault('5s').describe('A node silent this long is considered stopped: session takeovers do not wait for it, another node adopts its persistent sessions, /api/v5/nodes shows it stopped.'),
  // EMQX's own cluster keys: Erlang distribution and node discovery.
  ...emqxClusterKeys(),
})

function emqxClusterKeys () {
  const why = 'Culex nodes find each other through cluster.backend = redis, not Erlang distribution.'
  const keys = {
    name: z.string().default('emqxcl'),
    discovery_strategy: z.enum(['manual', 'static', 'singleton', 'dns', 'etcd', 'k8s']).default('manual'),
    autoclean: duration().prefault('24h'),
    autoheal: bool().default(true),
    proto_dist: z.enum(['inet_tcp', 'inet6_tcp', 'inet_tls', 'inet6_tls']).default('inet_tcp'),
    quic_lb_mode: z.union([int(), z.string()]).default(0),
    static: section({ seeds: nodeList().default([]) }),
    dns: section({ name: z.string().default('localhost'), record_type: z.enum(['a', 'aaaa', 'srv']).default('a') }),
    etcd: section({
      server: z.union([z.string(), z.array(z.string())]).optional(),
      prefix: z.string().default('emqxcl'),
      node_ttl: duration().prefault('1m'),
      ssl_options: section(sslClientShape),
    }),
    k8s: section({
      apiserver: z.string().default('https://kubernetes.default.svc:443'),
      service_name: z.string().default('emqx'),
      address_type: z.enum(['ip', 'dns', 'hostname']).default('ip'),
      namespace: z.string().default('default'),
      suffix: z.string().default('pod.local'),
    }),
    prevent_overlapping_partitions: bool().default(false),
  }
  return Object.fromEntries(Object.entries(keys).map(([key, schema]) => [key, noEffect(schema, why)])) as { [K in keyof typeof keys]: typeof keys[K] }
}

// ---- EMQX 5.8 sections Culex accepts: features not built yet, and Erlang VM tuning ----

const alarm = section({
  actions: z.array(z.enum(['log', 'publish'])).default(['log', 'publish']).describe('What raising an alarm does: log it, publish it under $SYS/brokers/<node>/alarms/.'),
  size_limit: int().pipe(z.number().min(1).max(3000)).default(1000).describe('Most deactivated alarms kept as history.'),
  validity_period: duration().prefault('24h').describe('How long a deactivated alarm is kept.'),
}).describe('Alarms (GET/DELETE /api/v5/alarms): conn_congestion/<clientid>/<username>, high_system_memory_usage (overload_protection refusing connections).')

const connCongestion = section({
  enable_alarm: bool().default(true).describe('Raise an alarm while a connection\'s unsent data is above mqtt.max_write_buffer.'),
  min_alarm_sustain_duration: duration().prefault('1m').describe('Shortest time an alarm stays raised.'),
}).describe('The alarm conn_congestion/<clientid>/<username>: raised while a connection\'s unsent data is above mqtt.max_write_buffer, cleared once it has not been for min_alarm_sustain_duration (or the connection ends).')

const delayed = section({
  enable: bool().default(true).describe('Hold messages published to $delayed/<seconds>/<topic> for that many seconds (below 4294967; a larger number is a Unix time at most 4294967 s ahead), then publish them to <topic>; the publisher is authorized for <topic>. MQTT 5 publishers are acknowledged 0x10 (No matching subscribers) as in EMQX. Held messages are kept in the data store when durable_storage.backend = lmdb; /api/v5/mqtt/delayed lists and deletes them. false: $delayed/ is an ordinary topic.'),
  max_delayed_messages: int().pipe(z.number().min(0)).default(0).describe('Most delayed messages held (0 = no limit); past it a delayed PUBLISH is refused with 0x97 (Quota exceeded).'),
})

const flappingDetect = section({
  enable: bool().default(false).describe('Ban a client identifier that connects max_count times within window_time (EMQX 5.8 counts each CONNECT that passes the ban check, before authentication): it is banned as clientid for ban_time, listed in /api/v5/banned (by "flapping detector") and logged at warning.'),
  window_time: duration().prefault('1m').describe('Window in which one client identifier\'s CONNECTs are counted; it starts at the first one.'),
  max_count: int().pipe(z.number().min(0)).default(15).describe('CONNECTs of one client identifier within window_time that get it banned; the one reaching it is served, the next is refused with 0x8A (Banned).'),
  ban_time: duration().prefault('5m').describe('How long a flapping client identifier is banned.'),
})

const forceGc = noEffect(section({
  enable: bool().default(true),
  count: int().pipe(z.number().min(0)).default(16000),
  bytes: size().prefault('16MB'),
}), 'Erlang collects garbage per process; Node has one heap, collected by V8 on its own.')

const prometheusCollectors = noEffect(section({
  vm_dist: enabled.default('disabled'),
  mnesia: enabled.default('disabled'),
  vm_statistics: enabled.default('disabled'),
  vm_system_info: enabled.default('disabled'),
  vm_memory: enabled.default('disabled'),
  vm_msacc: enabled.default('disabled'),
}), 'Erlang VM collectors; Culex always exports the nodejs_* and process_* metrics instead.')

const PUSH_GATEWAY = 'pushing metrics to a Prometheus push gateway'
const legacyCollector = () => noEffect(enabled.default('disabled'), 'an Erlang VM collector (EMQX 5.0\'s form); Culex always exports the nodejs_* and process_* metrics instead.')

// EMQX takes both its current form (push_gateway {...}, collectors {...}) and the 5.0 form (push_gateway_server, ..._collector).
const prometheus = section({
  enable_basic_auth: bool().default(false).describe('Ask for an API key (HTTP basic auth, api_key.bootstrap_file) on /api/v5/prometheus/stats; false: it is public, as in EMQX.'),
  push_gateway: notYet(section({
    enable: bool().default(false),
    method: z.enum(['put', 'post']).default('put'),
    url: z.string().default('http://127.0.0.1:9091'),
    interval: duration().prefault('15s'),
    headers: z.record(z.string(), z.string()).default({}),
    job_name: z.string().default('${name}/instance/${name}~${host}'),
  }), PUSH_GATEWAY),
  collectors: prometheusCollectors,
  push_gateway_server: notYet(z.string().optional(), PUSH_GATEWAY),
  interval: notYet(duration().optional(), PUSH_GATEWAY),
  headers: notYet(z.record(z.string(), z.string()).optional(), PUSH_GATEWAY),
  job_name: notYet(z.string().optional(), PUSH_GATEWAY),
  enable: notYet(bool().optional(), PUSH_GATEWAY),
  vm_dist_collector: legacyCollector(),
  mnesia_collector: legacyCollector(),
  vm_statistics_collector: legacyCollector(),
  vm_system_info_collector: legacyCollector(),
  vm_memory_collector: legacyCollector(),
  vm_msacc_collector: legacyCollector(),
})

const rpc = noEffect(section({
  mode: z.enum(['sync', 'async']).default('async'),
  protocol: z.enum(['tcp', 'ssl']).default('tcp'),
  async_batch_size: int().default(256),
  port_discovery: z.enum(['manual', 'stateless']).default('stateless'),
  server_port: int().default(5369),
  client_num: int().pipe(z.number().min(1).max(256)).default(10),
  connect_timeout: duration().prefault('5s'),
  certfile: z.string().optional(),
  keyfile: z.string().optional(),
  cacertfile: z.string().optional(),
  send_timeout: duration().prefault('5s'),
  authentication_timeout: duration().prefault('5s'),
  call_receive_timeout: duration().prefault('15s'),
  socket_keepalive_idle: duration().prefault('15m'),
  socket_keepalive_interval: duration().prefault('75s'),
  socket_keepalive_count: int().default(9),
  socket_sndbuf: size().prefault('1MB'),
  socket_recbuf: size().prefault('1MB'),
  socket_buffer: size().prefault('1MB'),
  insecure_fallback: bool().default(true),
  ciphers: z.union([z.string(), z.array(z.string())]).optional(),
  tls_versions: z.array(z.string()).optional(),
  listen_address: z.string().default('0.0.0.0'),
  ipv6_only: bool().default(false),
}), 'Culex nodes do not use Erlang RPC (gen_rpc); cluster.backend = redis carries what they exchange.')

const durableSessions = noEffect(section({
  enable: bool().default(false),
  batch_size: int().pipe(z.number().min(1)).default(100),
  idle_poll_interval: duration().prefault('10s'),
  heartbeat_interval: duration().prefault('5000ms'),
  renew_streams_interval: duration().prefault('1s'),
  session_gc_interval: duration().prefault('10m'),
  session_gc_batch_size: int().pipe(z.number().min(1)).default(100),
  subscription_count_refresh_interval: duration().prefault('5s'),
  disconnected_session_count_refresh_interval: duration().prefault('5s'),
  message_retention_period: duration().prefault('1d'),
  force_persistence: bool().default(false),
}), 'Culex keeps persistent sessions in its data store (durable_storage.backend) whatever this says.')

// EMQX 5.8's node-wide limiter: the short forms, and a burst per limiter type.
const bucket = () => noEffect(section({ burst: z.union([z.string(), z.number()]).default('0') }), 'EMQX\'s token bucket bursts; Culex\'s rates are per period.')
const limiter = section({
  max_conn_rate: notYet(rate().prefault('infinity'), 'node-wide rate limits', 'New connections accepted per period on this node, all listeners together; the listeners\' max_conn_rate works.'),
  messages_rate: notYet(rate().prefault('infinity'), 'node-wide rate limits', 'PUBLISH packets per period on this node, all clients together; the listeners\' messages_rate works per client.'),
  bytes_rate: notYet(rate(true).prefault('infinity'), 'node-wide rate limits', 'PUBLISH bytes per period on this node, all clients together; the listeners\' bytes_rate works per client.'),
  bytes: bucket(),
  messages: bucket(),
  connection: bucket(),
  message_routing: bucket(),
  internal: bucket(),
})

const sysmon = section({
  vm: noEffect(section({
    process_check_interval: duration().prefault('30s'),
    process_high_watermark: percent().prefault('80%'),
    process_low_watermark: percent().prefault('60%'),
    long_gc: durationOrDisabled().prefault('disabled'),
    long_schedule: durationOrDisabled().prefault('240ms'),
    large_heap: z.union([z.literal('disabled'), size()]).prefault('32MB'),
    busy_dist_port: bool().default(true),
    busy_port: bool().default(true),
  }), 'Erlang VM process monitoring.'),
  os: section({
    cpu_check_interval: notYet(duration().prefault('60s'), 'CPU and memory alarms'),
    cpu_high_watermark: notYet(percent().prefault('80%'), 'CPU and memory alarms'),
    cpu_low_watermark: notYet(percent().prefault('60%'), 'CPU and memory alarms'),
    mem_check_interval: notYet(durationOrDisabled().prefault('60s'), 'CPU and memory alarms'),
    sysmem_high_watermark: notYet(percent().prefault('70%'), 'CPU and memory alarms'),
    procmem_high_watermark: noEffect(percent().prefault('5%'), 'memory of one Erlang process; overload_protection.mem_high_watermark bounds the broker\'s memory.'),
  }).describe('Host CPU and memory monitoring.'),
  top: noEffect(section({
    num_items: int().default(10),
    sample_interval: duration().prefault('2s'),
    max_procs: int().default(1000000),
    db_hostname: z.string().default(''),
    db_port: int().default(5432),
    db_username: z.string().default('system_monitor'),
    db_password: z.string().default('system_monitor_password'),
    db_name: z.string().default('postgres'),
  }), 'Erlang process top (system_monitor).'),
  mnesia_tm_mailbox_size_alarm_threshold: erlang(int().default(500)),
  broker_pool_mailbox_size_alarm_threshold: erlang(int().default(500)),
})

const stats = section({
  enable: noEffect(bool().default(true), 'Culex always counts connections, sessions, topics and subscriptions.'),
})

const banned = section({
  bootstrap_file: notYet(z.string().optional(), 'importing bans from a file', 'CSV of bans imported at start.'),
})

const broker = noEffect(section({
  enable_session_registry: bool().default(true),
  session_history_retain: duration().prefault('0s'),
  session_locking_strategy: z.enum(['local', 'leader', 'quorum', 'all']).default('quorum'),
  route_batch_clean: bool().default(true),
  perf: section({
    route_lock_type: z.enum(['key', 'tab', 'global']).default('key'),
    trie_compaction: bool().default(true),
  }),
  routing: section({
    storage_schema: z.enum(['v1', 'v2']).default('v2'),
    batch_sync: section({ enable_on: z.enum(['none', 'core', 'replicant', 'all']).default('none') }),
  }),
  shared_subscription_group: z.record(z.string(), section({
    strategy: z.enum(['random', 'round_robin', 'round_robin_per_group', 'sticky', 'local', 'hash_topic', 'hash_clientid']).default('random'),
    initial_sticky_pick: z.enum(['random', 'local', 'hash_topic', 'hash_clientid']).default('random'),
  })).default({}),
}), 'EMQX\'s internal routing and session registry; mqtt.shared_subscription_strategy applies to every group.')

const trace = section({
  payload_encode: noEffect(z.enum(['hex', 'text', 'hidden']).default('text'), 'deprecated in EMQX 5.0.22; Culex has no traces.'),
})

/**
 * Keys naming a file, wherever they are: as EMQX, a value starting with $VAR or ${VAR} (EMQX's examples write
 * "${EMQX_ETC_DIR}/certs/cert.pem", in quotes, where HOCON substitutes nothing) takes the variable's value as
 * its first directory.
 */
export const FILE_PATH_KEYS = new Set(['certfile', 'keyfile', 'cacertfile', 'crlfile', 'issuer_pem', 'path', 'init_file', 'bootstrap_file', 'bootstrap_users_file'])

export const configSchema = z.strictObject({
  node,
  log,
  mqtt,
  listeners,
  sys_topics: sysTopics,
  retainer,
  dashboard,
  api_key: apiKey,
  authentication: authenticationList.default([]).describe('Global authenticator chain, asked in order (mechanism = jwt | cert | password_based | scram); empty = anonymous clients allowed.'),
  authorization,
  psk_authentication: pskAuthentication,
  crl_cache: crlCache,
  durable_storage: durableStorage,
  force_shutdown: forceShutdown,
  overload_protection: overloadProtection,
  cluster,
  alarm,
  conn_congestion: connCongestion,
  delayed,
  flapping_detect: flappingDetect,
  force_gc: forceGc,
  prometheus,
  rpc,
  durable_sessions: durableSessions,
  limiter,
  sysmon,
  stats,
  banned,
  broker,
  trace,
})

export type CulexConfig = z.output<typeof configSchema>
export type ConfigInput = z.input<typeof configSchema>
export type TcpListenerConfig = z.output<typeof tcpListener>
export type WsListenerConfig = z.output<typeof wsListener>
export type SslListenerConfig = z.output<typeof sslListener>
export type WssListenerConfig = z.output<typeof wssListener>
export type SslOptions = z.output<typeof sslOptions>
export type SslListenerOptions = z.output<typeof sslListenerOptions>
export type OcspConfig = z.output<typeof ocsp>
export type CrlCacheConfig = CulexConfig['crl_cache']
export type MqttConfig = CulexConfig['mqtt']
export type OverloadProtectionConfig = CulexConfig['overload_protection']
export type ClusterConfig = CulexConfig['cluster']
