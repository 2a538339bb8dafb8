// log.*: the console and named log files.
import { z } from 'zod'
import { bool, duration, int, size } from '../types.js'
import { THROTTLED_KINDS } from '../../log-limits.js'
import { section, noEffect } from './marks.js'

export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency', 'all', 'none'] as const

const ERLANG_LOGGER = 'a setting of Erlang\'s logger; Culex writes each line as it comes.'

const logHandler = {
  enable: bool().default(true).describe('Whether this log handler writes.'),
  level: z.enum(LOG_LEVELS).default('notice').describe('Lowest level written: debug, info, notice, warning, error, critical. notice (EMQX: warning) shows a line per listener and one when started, as Mosquitto does; an embedded broker (createBroker) writes warning and above unless configured.'),
  formatter: z.enum(['text', 'json']).default('text').describe('text for people, json for log shippers.'),
  time_offset: z.string().regex(/^([-+][0-1][0-9]:[0-6][0-9]|system|utc)$/, 'expected system, utc or an offset such as +08:00 or -02:00').default('system')
    .describe('Time zone of the text format\'s timestamps: system (the host\'s local time), utc, or an offset such as "+08:00".'),
  timestamp_format: z.enum(['auto', 'epoch', 'rfc3339']).default('auto').describe('Timestamps: auto (text: RFC 3339 at time_offset; json: "time" in epoch milliseconds, as before), epoch (epoch microseconds, as EMQX writes them), rfc3339 (RFC 3339 at time_offset, json too).'),
  chars_limit: z.union([z.literal('unlimited'), int().pipe(z.number().min(100))]).default('unlimited').describe('Longest log line (text: message and fields; json: each string value) in characters; longer ones are cut and end in "...".'),
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
  burst_limit: section({
    enable: bool().default(true).describe('Limit the lines this handler writes in a burst.'),
    max_count: int().pipe(z.number().min(1)).default(10000).describe('Lines written per window_time at most; the rest of the window\'s lines are dropped, and one warning line when it ends says how many.'),
    window_time: duration().prefault('1s').describe('The window, from its first line.'),
  }).describe('At most max_count lines per window_time into this handler (EMQX\'s burst limit).'),
  supervisor_reports: noEffect(z.enum(['error', 'progress']).default('error'), 'Erlang supervisor reports do not exist in Node.'),
  max_depth: noEffect(z.union([z.literal('unlimited'), int()]).default(100), ERLANG_LOGGER),
  with_mfa: noEffect(bool().default(false), 'Erlang module/function/arity do not exist in Node.'),
  payload_encode: noEffect(z.enum(['hex', 'text', 'hidden']).default('text'), 'Culex writes no message payload into its log lines (only their sizes).'),
}

// EMQX's fields of a log file handler: `log.file { level = ... }` is the handler named default.
const LOG_FILE_FIELDS = new Set(['enable', 'level', 'formatter', 'path', 'rotation_count', 'rotation_size', ...Object.keys(logHandler)])

export const log = section({
  console: section({ ...logHandler }).describe('Log to standard output.'),
  file: z.preprocess(defaultLogFile, z.record(z.string(), section({
    ...logHandler,
    enable: bool().default(false).describe('Whether this log file is written.'),
    path: z.string().default('log/culex.log').describe('File to append log lines to.'),
    rotation_count: int().pipe(z.number().min(1).max(128)).default(10).describe('Rotated files kept: <path>.0 (the newest) to <path>.<rotation_count - 1>, as EMQX.'),
    rotation_size: z.union([z.literal('infinity'), size()]).prefault('50MB').describe('Size past which the file is rotated (renamed <path>.0, older ones shifted, a new file started); infinity: never.'),
  }))).default({}).describe('Named log files, e.g. log.file.default { enable = true, path = "log/culex.log" }; EMQX\'s log.file { level = warning, ... } (handler fields right under log.file) is the one named default.'),
  throttling: section({
    time_window: duration().pipe(z.number().min(1000, 'expected at least 1s')).prefault('1m').describe('The window: of each kind in msgs, the first line in a window is written and the rest counted; when the window ends, one warning line ("log events throttled during the last period") gives the counts.'),
    msgs: z.array(z.enum(THROTTLED_KINDS)).default([...THROTTLED_KINDS]).describe('The kinds of events throttled (EMQX\'s names; all of them by default, [] for none). In Culex: authentication_failure ("authentication refused"), authorization_permission_denied ("SUBSCRIBE refused: not authorized", a will not authorized), cannot_publish_to_topic_due_to_not_authorized ("PUBLISH refused: not authorized"), failed_to_retain_message (retained messages over retainer.max_retained_messages or max_payload_size), socket_receive_paused_by_rate_limit; the other kinds are EMQX features Culex does not have. Not applied while a handler writes debug lines, as in EMQX.'),
  }).describe('Repeated log events of the listed kinds written once per time_window, as EMQX.'),
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
