// Every CULEX_ERR_* code, with the MQTT reason code it maps to where it ends an MQTT exchange, and the HTTP
// status and EMQX error code (the `code` of the `{ code, message }` body) the management API answers it
// with. docs/errors.md mirrors this table; test/docs.test.ts fails when they disagree, or when a code is
// raised nowhere in src/. Retired codes are never reused.
import { getSystemErrorName } from 'node:util'

/** How the management API answers an error: the HTTP status and EMQX 5's error code string. */
export interface HttpError {
  readonly status: number
  readonly code: string
}

export interface ErrorSpec {
  /** One line for docs/errors.md, and the message when no detail is given. */
  readonly message: string
  readonly reasonCode: number | null
  /** Absent: the API answers 500 INTERNAL_ERROR (and logs it). */
  readonly http?: HttpError
}

export const ERRORS = {
  CULEX_ERR_CONFIG_PARSE: { message: 'The configuration file is not valid HOCON', reasonCode: null },
  CULEX_ERR_CONFIG_INVALID: { message: 'A configuration key is unknown or has a value of the wrong type', reasonCode: null },
  CULEX_ERR_CONFIG_FILE: { message: 'The configuration file cannot be read', reasonCode: null },
  CULEX_ERR_LISTEN: { message: 'A listener cannot bind its address', reasonCode: null },
  CULEX_ERR_TLS_CONFIG: { message: 'A TLS listener\'s certificate, key, password or cipher list cannot be used', reasonCode: null },
  CULEX_ERR_STORE: { message: 'The data store in node.data_dir cannot be opened or written', reasonCode: null },
  CULEX_ERR_REGISTRY: { message: 'A device-registry request breaks a rule (the message names it): not a CA, expired, duplicate serial, unknown serial', reasonCode: null },
  CULEX_ERR_CERT_INVALID: { message: 'A certificate bundle breaks an import rule (the message names the rule)', reasonCode: null },
  CULEX_ERR_CERT_STORE: { message: 'The certificate store (node.data_dir/certs) cannot be read or written', reasonCode: null },
  CULEX_ERR_CERT_PARSE: { message: 'A PEM block that should hold an X.509 certificate cannot be parsed (the message says which one, of which file)', reasonCode: null },
  CULEX_ERR_CERT_KEY: { message: 'A private key cannot be used: encrypted and no password given, a wrong or empty password, not a key, or a type other than RSA and EC P-256/P-384/P-521', reasonCode: null },
  CULEX_ERR_CERT_ISSUE: { message: 'culex certs cannot issue the certificate asked for (days, SAN, extended key usage, empty CN, a CA key that does not match its certificate or a CA with pathLen 0), or the development certificates cannot be created', reasonCode: null },
  CULEX_ERR_CERT_FILE: { message: 'culex certs cannot read a file it was given, the file holds no PEM block, or it would overwrite files without --force', reasonCode: null },
  CULEX_ERR_CRL: { message: 'A CRL distribution point cannot be fetched, or answers something that is not a CRL (ssl_options.enable_crl_check: the client is refused)', reasonCode: null },
  CULEX_ERR_OCSP: { message: 'The OCSP responder cannot be reached, or its answer cannot be stapled (ssl_options.ocsp: logged, the last good response stays stapled)', reasonCode: null },
  CULEX_ERR_JWKS: { message: 'The JWKS endpoint of a jwt authenticator cannot be fetched or answers no key set (logged; the last keys fetched stay in use)', reasonCode: null },
  CULEX_ERR_AUTHN_CONFIG: { message: 'An authenticator cannot be made from its settings: an unknown mechanism, use_jwks without an endpoint, or hmac-based without a secret', reasonCode: null },
  CULEX_ERR_BACKEND_CONFIG: { message: 'An HTTP, Redis or PostgreSQL backend cannot be made from its settings: an unreadable TLS file, a URL that is not http(s), a body content type other than JSON or form, or a Redis command or SQL query that cannot be used', reasonCode: null },
  CULEX_ERR_BACKEND: { message: 'A request to an HTTP, Redis or PostgreSQL backend failed: unreachable, timed out, refused, or answered an error (logged once per cause; the authenticator or source is passed over)', reasonCode: null },
  CULEX_ERR_AUTHN_CHAIN: { message: 'An authenticator chain change names an authenticator that is not in the chain, or adds one that is there already', reasonCode: null },
  CULEX_ERR_CLUSTER_BUS: { message: 'The cluster store or bus (Redis, or the primary process of node.workers) is unreachable, did not answer in time, or answered an error', reasonCode: null },
  CULEX_ERR_CLUSTER_DECODE: { message: 'A message from another node, or a record in the cluster store, cannot be decoded (logged and skipped)', reasonCode: null },
  CULEX_ERR_WORKER: { message: 'A worker process (node.workers) exited during start-up', reasonCode: null },
  CULEX_ERR_USAGE: { message: 'A command-line option of culex start has a value it does not take', reasonCode: null },
  CULEX_ERR_NOT_RUNNING: { message: 'An embedding program asked a Broker for the address of a listener or of the management API that is not running', reasonCode: null },
  CULEX_ERR_API_KEYS: { message: 'The API key bootstrap file (api_key.bootstrap_file) cannot be read or has a malformed line', reasonCode: null },
  CULEX_ERR_CLUSTER: { message: 'The cluster cannot start: Redis (cluster.redis.servers) unreachable or refusing the connection, unreadable TLS files, or node.name already used by a running node', reasonCode: null },
  CULEX_ERR_ACL_PARSE: { message: 'An authorization rule file (acl.conf) cannot be read or has a malformed rule', reasonCode: null },
  CULEX_ERR_BANNED_FILE: { message: 'The ban bootstrap file (banned.bootstrap_file) cannot be read, or its first line does not name the columns as and who', reasonCode: null },
  CULEX_ERR_DASHBOARD_USERS: { message: 'The dashboard users (node.data_dir/dashboard/users.json) cannot be read, or dashboard.bootstrap_users_file cannot be read or has a line that is no user', reasonCode: null },
  CULEX_ERR_AUTHZ_RULE: { message: 'An authorization rule given as JSON (the built-in database API, a database row, a service\'s answer) has a field that is missing or not valid (the message says which)', reasonCode: null, http: { status: 400, code: 'BAD_REQUEST' } },
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
  CULEX_ERR_API_BAD_REQUEST: { message: 'A management API request has a body, query or path parameter that is not valid (the message says which)', reasonCode: null, http: { status: 400, code: 'BAD_REQUEST' } },
  CULEX_ERR_API_NOT_FOUND: { message: 'A management API request names a route, user, authenticator, ban, certificate bundle or registry entry that does not exist', reasonCode: null, http: { status: 404, code: 'NOT_FOUND' } },
  CULEX_ERR_API_EXISTS: { message: 'A management API request creates a user, authenticator or registry entry that already exists', reasonCode: null, http: { status: 409, code: 'ALREADY_EXISTS' } },
  CULEX_ERR_API_ALREADY_BANNED: { message: 'A management API request bans a client ID, username or address that is banned already (400, as EMQX answers)', reasonCode: null, http: { status: 400, code: 'ALREADY_EXISTS' } },
  CULEX_ERR_API_CLIENT_NOT_FOUND: { message: 'A management API request names a client ID that has no connection or session', reasonCode: null, http: { status: 404, code: 'CLIENTID_NOT_FOUND' } },
  CULEX_ERR_API_LISTENER_NOT_FOUND: { message: 'A management API request names a listener that does not exist', reasonCode: null, http: { status: 404, code: 'BAD_LISTENER_ID' } },
  CULEX_ERR_API_NO_CREDENTIALS: { message: 'A management API request has no Authorization header (basic auth with an API key, or a dashboard login\'s Bearer token)', reasonCode: null, http: { status: 401, code: 'AUTHORIZATION_HEADER_ERROR' } },
  CULEX_ERR_API_BAD_CREDENTIALS: { message: 'A management API request\'s API key or secret is wrong', reasonCode: null, http: { status: 401, code: 'BAD_API_KEY_OR_SECRET' } },
  CULEX_ERR_API_ROLE: { message: 'The role (viewer) of the API key or dashboard token may not make this management API request', reasonCode: null, http: { status: 403, code: 'UNAUTHORIZED_ROLE' } },
  CULEX_ERR_API_LOGIN_FAILED: { message: 'A dashboard login (POST /api/v5/login) names no user, or a wrong password', reasonCode: null, http: { status: 401, code: 'BAD_USERNAME_OR_PWD' } },
  CULEX_ERR_API_LOGIN_LOCKED: { message: 'A dashboard login names a user name locked after too many failed attempts (dashboard.unsuccessful_login_*)', reasonCode: null, http: { status: 401, code: 'LOGIN_LOCKED' } },
  CULEX_ERR_API_BAD_TOKEN: { message: 'A management API request\'s Bearer token is not one the dashboard login gave, or it was closed (logout, password or role change, user deleted)', reasonCode: null, http: { status: 401, code: 'BAD_TOKEN' } },
  CULEX_ERR_API_TOKEN_EXPIRED: { message: 'A management API request\'s Bearer token was not used for dashboard.token_expired_time', reasonCode: null, http: { status: 401, code: 'TOKEN_TIME_OUT' } },
  CULEX_ERR_API_LOGOUT: { message: 'A logout names a user other than the token\'s, or carries no Bearer token', reasonCode: null, http: { status: 401, code: 'WRONG_TOKEN_OR_USERNAME' } },
  CULEX_ERR_API_KEY_NOT_ALLOWED: { message: 'An API key was used for the dashboard users or logout, which take a dashboard login\'s Bearer token only (as EMQX)', reasonCode: null, http: { status: 401, code: 'API_KEY_NOT_ALLOW' } },
  CULEX_ERR_API_PASSWORD_CHANGE_REQUIRED: { message: 'A dashboard token of a user who still has the default password was used for something other than changing it, logging out or reading the user itself', reasonCode: null, http: { status: 403, code: 'PASSWORD_CHANGE_REQUIRED' } },
  CULEX_ERR_API_USER_NOT_FOUND: { message: 'A management API request names a dashboard user that does not exist', reasonCode: null, http: { status: 404, code: 'USER_NOT_FOUND' } },
  CULEX_ERR_API_PASSWORD_MISMATCH: { message: 'A dashboard password change gives a wrong old password', reasonCode: null, http: { status: 400, code: 'ERROR_PWD_NOT_MATCH' } },
  CULEX_ERR_API_NOT_ALLOWED: { message: 'A dashboard user change would delete the user making it, or leave no administrator', reasonCode: null, http: { status: 400, code: 'NOT_ALLOWED' } },
  CULEX_ERR_API_ORIGIN: { message: 'A management API request is refused as one a web page could have made: cross-origin, or for a host other than the loopback without API keys', reasonCode: null, http: { status: 403, code: 'FORBIDDEN' } },
  CULEX_ERR_API_MEDIA_TYPE: { message: 'A management API request\'s body has a content type the route does not accept', reasonCode: null, http: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' } },
  CULEX_ERR_API_TOO_LARGE: { message: 'A management API request\'s body is larger than the API accepts (2 MB; an uploaded PEM file 1 MB)', reasonCode: null, http: { status: 413, code: 'PAYLOAD_TOO_LARGE' } },
  CULEX_ERR_API_UNAVAILABLE: { message: 'A management API request needs what is not there: the cluster store (unreachable) or the authenticator chain', reasonCode: null, http: { status: 503, code: 'SERVICE_UNAVAILABLE' } },
  CULEX_ERR_API_DELAYED_ID: { message: 'A delayed message ID in a management API path is not 32 hexadecimal digits', reasonCode: null, http: { status: 400, code: 'MESSAGE_ID_SCHEMA_ERROR' } },
  CULEX_ERR_API_INVALID_NODE: { message: 'A management API path names a node other than the one answering (delayed messages and the monitor are per node)', reasonCode: null, http: { status: 400, code: 'INVALID_NODE' } },
  CULEX_ERR_API_INVALID_TOPIC: { message: 'A management API path names a topic with a wildcard where a topic name is needed', reasonCode: null, http: { status: 400, code: 'INVALID_TOPIC_NAME' } },
  CULEX_ERR_API_DELAYED_NOT_FOUND: { message: 'A management API request names a delayed message that is not held (published already, or deleted)', reasonCode: null, http: { status: 404, code: 'MESSAGE_ID_NOT_FOUND' } },
  CULEX_ERR_API_DELAYED_TOPIC_NOT_FOUND: { message: 'A management API request deletes the delayed messages of a topic that has none', reasonCode: null, http: { status: 404, code: 'MESSAGE_NOT_FOUND' } },
  CULEX_ERR_API_INTERNAL: { message: 'A management API request failed on an unexpected error; the broker log has it', reasonCode: null, http: { status: 500, code: 'INTERNAL_ERROR' } },
} as const satisfies Record<string, ErrorSpec>

export type ErrorCode = keyof typeof ERRORS

/** The codes the management API answers with a status of their own (the CULEX_ERR_API_* family). */
export type HttpErrorCode = { [C in ErrorCode]: (typeof ERRORS)[C] extends { http: HttpError } ? C : never }[ErrorCode]

/** The EMQX error codes the management API answers with. */
export type ApiErrorCode = { [C in ErrorCode]: (typeof ERRORS)[C] extends { http: { code: infer A } } ? A : never }[ErrorCode]

/** Errors in what the operator configured (files included): `culex start` exits with code 2 on them, 1 on the rest. */
export const CONFIGURATION_ERRORS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'CULEX_ERR_CONFIG_PARSE', 'CULEX_ERR_CONFIG_INVALID', 'CULEX_ERR_CONFIG_FILE', 'CULEX_ERR_TLS_CONFIG', 'CULEX_ERR_API_KEYS', 'CULEX_ERR_ACL_PARSE',
  'CULEX_ERR_AUTHN_CONFIG', 'CULEX_ERR_BANNED_FILE', 'CULEX_ERR_BACKEND_CONFIG', 'CULEX_ERR_DASHBOARD_USERS',
])

export class CulexError extends Error {
  readonly code: ErrorCode
  readonly reasonCode: number | null
  /** How the management API answers it; null: 500 INTERNAL_ERROR. */
  readonly http: HttpError | null
  /** Machine-readable facts the management API adds to its answer's body (e.g. the field and rule at fault). */
  readonly details: Readonly<Record<string, string>> | undefined

  constructor (code: ErrorCode, detail?: string, options?: { cause?: unknown, details?: Record<string, string> }) {
    super(detail ?? ERRORS[code].message, options)
    this.name = 'CulexError'
    this.code = code
    this.reasonCode = ERRORS[code].reasonCode
    this.http = httpOf(code)
    this.details = options?.details
  }
}

/** How the management API answers this code; null: 500 INTERNAL_ERROR. */
export function httpOf (code: ErrorCode): HttpError | null {
  return (ERRORS[code] as ErrorSpec).http ?? null
}

/** The error Node gives for a failed system call (`write EPIPE`, `accept EMFILE`), from libuv's negative errno. */
export function systemError (errno: number, syscall: string): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno)
  return Object.assign(new Error(`${syscall} ${code}`), { errno, code, syscall })
}
