// pino with EMQX's level names (notice, warning, critical), and EMQX's text or json formats.
import { createWriteStream, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { Writable } from 'node:stream'
import { pino, type Logger, type LevelWithSilent, type DestinationStream } from 'pino'
import type { CulexConfig } from './config/schema.js'

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

/** Turns pino's JSON lines into `2026-01-01T00:00:00.000Z [warning] message key=value`. */
class TextFormat extends Writable {
  readonly #out: NodeJS.WritableStream
  readonly #timeOffset: string | undefined

  constructor (out: NodeJS.WritableStream, timeOffset?: string) {
    super({ decodeStrings: false })
    this.#out = out
    this.#timeOffset = timeOffset
  }

  override _write (chunk: string | Buffer, _enc: BufferEncoding, done: () => void): void {
    const line = String(chunk)
    try {
      const { time, level, msg, pid: _pid, hostname: _host, ...rest } = JSON.parse(line) as Record<string, unknown>
      const fields = Object.entries(rest).map(([k, v]) => `${escapeControl(k)}=${fieldValue(v)}`)
      this.#out.write(`${timestamp(time as number, this.#timeOffset)} [${LEVEL_NAMES[level as number] ?? level}] ${escapeControl(String(msg ?? ''))}${fields.length ? ' ' + fields.join(' ') : ''}\n`)
    } catch {
      // Not a JSON line (pino writes nothing else): passed on as it came rather than lost.
      this.#out.write(line)
    }
    done()
  }
}

export function createLog (config: CulexConfig['log']): Log {
  const streams: { level: string, stream: DestinationStream }[] = []
  const add = (handler: { enable: boolean, level: EmqxLevel, formatter: 'text' | 'json', time_offset?: string }, out: NodeJS.WritableStream) => {
    if (!handler.enable || handler.level === 'none') return
    streams.push({ level: pinoLevel(handler.level), stream: handler.formatter === 'json' ? out : new TextFormat(out, handler.time_offset) })
  }
  add(config.console, process.stdout)
  for (const file of Object.values(config.file)) {
    if (!file.enable) continue
    mkdirSync(dirname(file.path), { recursive: true })
    add(file, createWriteStream(file.path, { flags: 'a' }))
  }
  const lowest = streams.length === 0 ? 'silent' : streams.map((s) => s.level).sort((a, b) => levelValue(a) - levelValue(b))[0]!
  return pino({ level: lowest, customLevels: CUSTOM_LEVELS, base: undefined }, pino.multistream(streams as never, { levels: { ...pino.levels.values, ...CUSTOM_LEVELS } } as never)) as Log
}

function levelValue (level: string): number {
  return (CUSTOM_LEVELS as Record<string, number>)[level] ?? pino.levels.values[level] ?? Number.POSITIVE_INFINITY
}

/** A logger that writes nothing, for embedding. */
export function silentLog (): Log {
  return pino({ level: 'silent', customLevels: CUSTOM_LEVELS }) as Log
}
