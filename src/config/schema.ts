// The single source for every configuration key: its type, default and doc line, one file per section in
// schema/. docs/config.md is generated from this schema (`npm run docs:config`), and a test keeps them in step.
import { z } from 'zod'
import { authenticationList } from './schema/authentication.js'
import { authorization } from './schema/authorization.js'
import { cluster } from './schema/cluster.js'
import { apiKey, dashboard } from './schema/dashboard.js'
import { broker, durableSessions, forceGc, rpc } from './schema/erlang.js'
import { listeners, sslListener, tcpListener, wsListener, wssListener } from './schema/listeners.js'
import { log } from './schema/log.js'
import { delayed, retainer, sysTopics } from './schema/messages.js'
import { mqtt } from './schema/mqtt.js'
import { durableStorage, node } from './schema/node.js'
import { prometheus, stats, sysmon, trace } from './schema/observability.js'
import { alarm, banned, connCongestion, flappingDetect, forceShutdown, limiter, overloadProtection } from './schema/protection.js'
import { crlCache, ocsp, pskAuthentication, sslListenerOptions, sslOptions } from './schema/tls.js'

export { LOG_LEVELS } from './schema/log.js'
export { TLS_VERSIONS } from './schema/tls.js'
export { AUTHENTICATOR_SCHEMAS, authenticationList, passwordAuthenticator, scramAuthenticator, type AuthenticatorConfig, type HttpAuthenticatorConfig, type JwtAuthenticatorConfig, type PasswordAuthenticatorConfig, type PostgresAuthenticatorConfig, type RedisAuthenticatorConfig, type ScramAuthenticatorConfig } from './schema/authentication.js'
export { AUTHZ_SOURCE_SCHEMAS, AUTHZ_SOURCE_TYPES, authzSource, authzCache, type AuthorizationConfig, type AuthzSourceConfig, type AuthzCacheConfig, type HttpAuthzSourceConfig, type RedisAuthzSourceConfig, type PostgresqlAuthzSourceConfig } from './schema/authorization.js'

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
  authentication: authenticationList.default([]).describe('Global authenticator chain, asked in order (mechanism = jwt | cert | password_based with backend = built_in_database | http | redis | postgresql | scram); empty = anonymous clients allowed.'),
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
