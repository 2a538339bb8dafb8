// dashboard.* and api_key.*: the management API.
import { z } from 'zod'
import { bind, bool, duration, int } from '../types.js'
import { section, noEffect, NO_EFFECT_ERLANG } from './marks.js'
import { sslOptions } from './tls.js'

// dashboard.* besides its listeners.
const dashboardSettings = {
  default_username: z.string().default('admin').describe('User name of the dashboard\'s first administrator, created at start when no administrator exists (node.data_dir/dashboard/users.json). Empty: none is created.'),
  default_password: z.string().default('public').describe('Password of default_username until it is changed: a login with it answers password_change_required, and its token reaches only change_pwd, logout and the user itself until the password is changed (to one that follows the rules and is not this one).'),
  sample_interval: duration()
    .refine((ms) => ms % 1000 === 0 && ms >= 1000 && ms <= 60_000 && 60_000 % ms === 0, { message: 'must be whole seconds from 1s to 60s that divide a minute (1s, 2s, 5s, 10s, 15s, 20s, 30s, 60s)' })
    .prefault('10s')
    .describe('How often the node samples its connections, subscriptions, topics, retained messages and message counts for GET /api/v5/monitor (the last hour is kept, in memory) and the rates of /api/v5/monitor_current. Samples fall on multiples of the interval, as in EMQX.'),
  token_expired_time: duration().pipe(z.number().min(1000, 'at least 1s')).prefault('60m').describe('A dashboard login token (POST /api/v5/login) ends this long after its last use, as EMQX\'s.'),
  cors: bool().default(false).describe('As EMQX: answer requests that carry an Origin header with Access-Control-Allow-Origin: *, and preflights, so that a web page elsewhere can call the management API with an API key it sends itself (never the browser\'s stored credentials); cross-origin changes that need no preflight (HTML forms) stay refused. Ignored, with a warning, without API keys.'),
  swagger_support: noEffect(bool().default(true), 'Culex always serves the OpenAPI document (/api-docs/swagger.json).'),
  i18n_lang: noEffect(z.enum(['en', 'zh']).default('en'), 'the dashboard speaks English or Japanese, chosen from the browser\'s language and switchable on every page (no Chinese).'),
  bootstrap_users_file: z.string().default('').describe('Dashboard users added at start when not there yet: one username:password or username:password:role (administrator, viewer) per line, # comments; the passwords must follow the rules of POST /api/v5/users. A bad line stops start-up. (Deprecated in EMQX 5.8, which ignores it.)'),
  unsuccessful_login_max_attempts: int().pipe(z.number().min(1)).default(5).describe('Failed dashboard logins for one user name within unsuccessful_login_interval that lock it (EMQX 5.9\'s key; 5.8 has no lock).'),
  unsuccessful_login_lock_duration: duration().prefault('10m').describe('How long a user name stays locked: its logins are refused with 401 LOGIN_LOCKED, even with the right password.'),
  unsuccessful_login_interval: duration().prefault('5m').describe('The window in which failed dashboard logins are counted.'),
}

const dashboardListenerCommon = {
  num_acceptors: int().pipe(z.number().min(1)).optional().describe(NO_EFFECT_ERLANG + ' (EMQX\'s default: one per scheduler.)'),
  max_connections: int().pipe(z.number().min(1)).default(512).describe('Most concurrent connections to the management API; further ones are closed at accept.'),
  backlog: int().pipe(z.number().min(1)).default(1024).describe('Pending connections the kernel keeps.'),
  send_timeout: duration().prefault('10s').describe('Accepted for EMQX compatibility; no effect: a slow API client only holds its own response.'),
  inet6: bool().default(false).describe('Listen on IPv6: a bind without an address (a port, or 0.0.0.0) listens on :: instead of 0.0.0.0.'),
  ipv6_v6only: bool().default(false).describe('With an IPv6 address: accept IPv6 connections only (else IPv4 ones arrive too, as ::ffff:a.b.c.d).'),
  proxy_header: bool().default(false).describe('Every connection to the management API starts with a PROXY protocol header (v1 or v2), read within 3 s; its client address is the one logged. Connections without one are closed.'),
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

export const dashboard = section({
  ...dashboardSettings,
  listeners: dashboardListeners,
})

export const apiKey = section({
  bootstrap_file: z.string().default('').describe('File of API keys for the management API: one key:secret per line, optionally :role (administrator, viewer, publisher), # comments. Clients send them as HTTP basic auth.'),
})
