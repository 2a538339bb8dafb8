// pino with EMQX's level names (notice, warning, critical), and EMQX's text or json formats.
import { Writable } from 'node:stream'
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino'
import type { CulexConfig } from './config/schema.js'
import { RotatingFile } from './log-file.js'
import { BurstLimit, Throttle } from './log-limits.js'

export type Log = Logger<'notice' | 'warning' | 'critical'>

const CUSTOM_LEVELS = { notice: 35, warning: 40, critical: 55 }

const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 35: 'notice', 40: 'warning', 50: 'error', 55: 'critical', 60: 'critical' }

type EmqxLevel = CulexConfig['log']['console']['level']

function pinoLevel (level: EmqxLevel): LevelWithSilent | 'notice' | 'warning' | 'critical' {
  switch (level) {
    case 'all': return 'trace'
    case 'none': return 'silent'
    case 'alert':
    case 'emergency': return 'fatal'
    default: return level
  }
}

// C0 and C1 control characters, DEL, and the Unicode line and paragraph separators.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g
const SHORT_ESCAPES: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' }

/** Control characters as `\n`, `\u001b`...: text from a client (client id, topic, SNI) cannot start a line or drive a terminal. */
export function escapeControl (text: string): string {
  return text.replace(CONTROL, (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** A field's value: bare when it is one plain word, else quoted, so a value cannot pass for more fields. */
function fieldValue (value: unknown): string {
  if (typeof value === 'string' && /^[^\s="\\]*$/.test(value)) return escapeControl(value)
  return escapeControl(String(JSON.stringify(value)))
}

/**
 * RFC 3339 time of `ms` in the zone of log.*.time_offset: system (the host's local time), utc, or "+08:00";
 * `Z` when the offset is zero.
 */
export function timestamp (ms: number, timeOffset = 'system'): string {
  const m = /^([-+])(\d\d):(\d\d)$/.exec(timeOffset)
  const minutes = m ? (m[1] === '-' ? -1 : 1) * (Number(m[2]) * 60 + Number(m[3]))
    : timeOffset === 'system' ? -new Date(ms).getTimezoneOffset() : 0
  if (minutes === 0) return new Date(ms).toISOString()
  const abs = Math.abs(minutes)
  const zone = `${minutes < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`
  return new Date(ms + minutes * 60_000).toISOString().slice(0, -1) + zone
}

interface LineOptions {
  formatter: 'text' | 'json'
  timeOffset: string | undefined
  /** auto: the text format's RFC 3339, json's epoch milliseconds; epoch: microseconds (EMQX's); rfc3339: at time_offset. */
  timestampFormat: 'auto' | 'epoch' | 'rfc3339'
  /** Longest line (text) or string value (json) in characters, longer ones cut and marked "..."; Infinity: no limit. */
  charsLimit: number
}

const cut = (text: string, limit: number) => (text.length > limit ? `${text.slice(0, limit)}...` : text)

/**
 * pino's JSON lines as the handler wants them: `2026-01-01T00:00:00.000Z [warning] message key=value` (text),
 * or JSON with log.*.timestamp_format and chars_limit applied.
 */
class LineFormat extends Writable {
  readonly #out: NodeJS.WritableStream
  readonly #opts: LineOptions

  constructor (out: NodeJS.WritableStream, opts: LineOptions) {
    super({ decodeStrings: false })
    this.#out = out
    this.#opts = opts
  }

  override _write (chunk: string | Buffer, _enc: BufferEncoding, done: () => void): void {
    const line = String(chunk)
    try {
      this.#out.write(this.#opts.formatter === 'json' ? this.#json(line) : this.#text(line))
    } catch {
      // Not a JSON line (pino writes nothing else): passed on as it came rather than lost.
      this.#out.write(line)
    }
    done()
  }

  #time (ms: number, auto: 'text' | 'json'): string | number {
    const format = this.#opts.timestampFormat
    if (format === 'epoch') return ms * 1000
    if (format === 'rfc3339' || auto === 'text') return timestamp(ms, this.#opts.timeOffset)
    return ms
  }

  #text (line: string): string {
    const { time, level, msg, pid: _pid, hostname: _host, ...rest } = JSON.parse(line) as Record<string, unknown>
    const fields = Object.entries(rest).map(([k, v]) => `${escapeControl(k)}=${fieldValue(v)}`)
    const body = `${escapeControl(String(msg ?? ''))}${fields.length ? ' ' + fields.join(' ') : ''}`
    return `${this.#time(time as number, 'text')} [${LEVEL_NAMES[level as number] ?? level}] ${cut(body, this.#opts.charsLimit)}\n`
  }

  #json (line: string): string {
    const record = JSON.parse(line) as Record<string, unknown>
    if (typeof record.time === 'number') record.time = this.#time(record.time, 'json')
    const limit = this.#opts.charsLimit
    return JSON.stringify(record, limit === Number.POSITIVE_INFINITY ? undefined : (_k, v: unknown) => (typeof v === 'string' ? cut(v, limit) : v)) + '\n'
  }
}

type Handler = CulexConfig['log']['console']

export function createLog (config: CulexConfig['log']): Log {
  const streams: { level: string, stream: DestinationStream }[] = []
  const add = (name: string, handler: Handler, out: NodeJS.WritableStream) => {
    if (!handler.enable || handler.level === 'none') return
    const opts: LineOptions = {
      formatter: handler.formatter,
      timeOffset: handler.time_offset,
      timestampFormat: handler.timestamp_format,
      charsLimit: handler.chars_limit === 'unlimited' ? Number.POSITIVE_INFINITY : handler.chars_limit,
    }
    // pino's own JSON lines as they are, unless the handler changes them.
    const plain = opts.formatter === 'json' && opts.timestampFormat === 'auto' && opts.charsLimit === Number.POSITIVE_INFINITY
    const formatted = plain ? out : new LineFormat(out, opts)
    const burst = handler.burst_limit
    const stream = burst.enable
      ? new BurstLimit(formatted, burst.max_count, burst.window_time, (dropped, windowMs) =>
        `${JSON.stringify({ level: CUSTOM_LEVELS.warning, time: Date.now(), msg: `log lines dropped by log.${name}.burst_limit`, dropped, window_ms: windowMs, max_count: burst.max_count })}\n`)
      : formatted
    streams.push({ level: pinoLevel(handler.level), stream: stream as DestinationStream })
  }
  add('console', config.console, process.stdout)
  for (const [name, file] of Object.entries(config.file)) {
    if (!file.enable) continue
    const size = file.rotation_size === 'infinity' ? Number.POSITIVE_INFINITY : file.rotation_size
    add(`file.${name}`, file, new RotatingFile(file.path, size, file.rotation_count))
  }
  const lowest = streams.length === 0 ? 'silent' : streams.map((s) => s.level).sort((a, b) => levelValue(a) - levelValue(b))[0]!
  // log.throttling, as EMQX: off when the log takes debug lines.
  const throttling = config.throttling
  const self: { log?: Log } = {}
  const throttle = throttling.msgs.length === 0 || levelValue(lowest) <= levelValue('debug')
    ? null
    : new Throttle(throttling.msgs, throttling.time_window, (dropped, periodMs) => {
      self.log?.warning({ dropped, period: `${periodMs / 1000}s` }, 'log events throttled during the last period')
    })
  const hooks = throttle === null
    ? undefined
    : {
        logMethod (this: unknown, args: unknown[], method: (...args: unknown[]) => void) {
          if (throttle.allow(typeof args[0] === 'string' ? args[0] : args[1])) method.apply(this, args)
        },
      }
  const logger = pino({ level: lowest, customLevels: CUSTOM_LEVELS, base: undefined, ...(hooks ? { hooks: hooks as never } : {}) }, pino.multistream(streams as never, { levels: { ...pino.levels.values, ...CUSTOM_LEVELS } } as never)) as Log
  self.log = logger
  return logger
}

function levelValue (level: string): number {
  return (CUSTOM_LEVELS as Record<string, number>)[level] ?? pino.levels.values[level] ?? Number.POSITIVE_INFINITY
}

/** A logger that writes nothing, for embedding. */
export function silentLog (): Log {
  return pino({ level: 'silent', customLevels: CUSTOM_LEVELS }) as Log
}

/** A log that hands the message of each warning and worse to `sink` (culex check turns them into notices). */
export function warningSink (sink: (message: string) => void): Log {
  return pino({ level: 'warning', customLevels: CUSTOM_LEVELS }, { write: (line: string) => sink((JSON.parse(line) as { msg: string }).msg) }) as Log
}
