// Value types shared by the schema: EMQX writes durations, sizes and "infinity" as strings.
import { z } from 'zod'

/** The type name each factory's schema shows in docs/config.md. */
export const TYPE_NAMES = new WeakMap<object, string>()

function named<T extends z.ZodType> (name: string, schema: T): T {
  TYPE_NAMES.set(schema, name)
  return schema
}

/**
 * A key (or a whole section) Culex accepts for EMQX compatibility without acting on it: `never` for what
 * cannot have an effect in Node (Erlang VM tuning...), `not-yet` for an EMQX feature Culex has not built yet.
 * Set by schema.ts's noEffect / notYet; docs/config.md shows it, and the start-up log names each such key set.
 */
export interface Effect { status: 'never' | 'not-yet', why: string }

export const EFFECTS = new WeakMap<object, Effect>()

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }

/** Parses `15s`, `1h30m`, `500ms` or a bare number of milliseconds; returns undefined when unreadable. */
export function parseDuration (input: unknown): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input : undefined
  if (typeof input !== 'string') return undefined
  const text = input.trim().toLowerCase()
  if (/^\d+$/.test(text)) return Number(text)
  const parts = text.match(/\d+(\.\d+)?(ms|s|m|h|d)/g)
  if (!parts || parts.join('') !== text) return undefined
  let total = 0
  for (const part of parts) {
    const [, num, unit] = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(part)!
    total += Number(num) * DURATION_UNITS[unit!]!
  }
  return total
}

/** Parses `1MB`, `64KB`, `512` (bytes); units are powers of 1024 as in EMQX. */
export function parseSize (input: unknown): number | undefined {
  if (typeof input === 'number') return Number.isInteger(input) && input >= 0 ? input : undefined
  if (typeof input !== 'string') return undefined
  const m = /^(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?$/i.exec(input.trim())
  if (!m) return undefined
  return Math.floor(Number(m[1]) * SIZE_UNITS[(m[2] ?? 'b').toLowerCase()]!)
}

/** Duration in milliseconds. */
export const duration = () => named('duration', z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v)
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 15s, 5m, 1h or 500ms, got ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return ms
}))

/** A duration in milliseconds, or `infinity` (returned as `infinity`: Infinity, or 0 where 0 means never). */
export const durationOrInfinity = (infinity = Number.POSITIVE_INFINITY) => named('duration \\| infinity', z.union([z.string(), z.number()]).transform((v, ctx) => {
  if (v === 'infinity') return infinity
  const ms = parseDuration(v)
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as 15s, 5m, 1h or 500ms, or infinity, got ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return ms
}))

/** Size in bytes. */
export const size = () => named('size', z.union([z.string(), z.number()]).transform((v, ctx) => {
  const bytes = parseSize(v)
  if (bytes === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as 1MB, 64KB or a number of bytes, got ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return bytes
}))

/** A non-negative integer, or `infinity` (returned as Infinity). */
export const countOrInfinity = () => named('integer \\| infinity', z.union([z.literal('infinity'), z.number().int().nonnegative()])
  .transform((v) => (v === 'infinity' ? Number.POSITIVE_INFINITY : v)))

/** A duration, or `disabled` (returned as 0 for "off"). */
export const durationOrDisabled = () => named('duration \\| disabled', z.union([z.literal('disabled'), duration()])
  .transform((v) => (v === 'disabled' ? 0 : v)))

/** A rate limit: `amount` per `periodMs`. */
export interface Rate { amount: number, periodMs: number }

/**
 * Parses EMQX rates, `1000/s`, `100/10s`, `10MB/s` (sizes only when `sizes`), `5/500ms`; returns null
 * for `infinity` and undefined when unreadable.
 */
export function parseRate (input: unknown, sizes: boolean): Rate | null | undefined {
  if (input === 'infinity') return null
  if (typeof input !== 'string') return undefined
  const m = /^\s*([^/\s]+)\s*\/\s*(\S+)\s*$/.exec(input)
  if (!m) return undefined
  const amount = sizes ? parseSize(m[1]) : /^\d+$/.test(m[1]!) ? Number(m[1]) : undefined
  // "1000/s" has no number before the unit: one of it.
  const periodMs = parseDuration(/^\d/.test(m[2]!) ? m[2] : `1${m[2]}`)
  if (amount === undefined || amount <= 0 || periodMs === undefined || periodMs <= 0) return undefined
  return { amount, periodMs }
}

/** `1000/s`, `100/10s` or `infinity` (null); `sizes` allows `10MB/s`. */
export const rate = (sizes = false) => named(sizes ? 'bytes rate \\| infinity' : 'rate \\| infinity', z.string().transform((v, ctx) => {
  const parsed = parseRate(v, sizes)
  if (parsed === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a rate such as ${sizes ? '"10MB/s", "1KB/100ms"' : '"1000/s", "100/10s"'} or "infinity", got ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return parsed
}))

/** A memory mark: a share of the memory the process may use, or a size in bytes. */
export type Watermark = { percent: number } | { bytes: number }

/** `80%` or a size (`2GB`). */
export const watermark = () => named('percent \\| size', z.union([z.string(), z.number()]).transform((v, ctx): Watermark => {
  const percent = typeof v === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v) : null
  if (percent && Number(percent[1]) > 0 && Number(percent[1]) <= 100) return { percent: Number(percent[1]) }
  const bytes = percent ? undefined : parseSize(v)
  if (bytes === undefined || bytes === 0) {
    ctx.addIssue({ code: 'custom', message: `expected a percentage such as 80% or a size such as 2GB, got ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return { bytes }
}))

/** `80%` (EMQX's percent type), returned as a number of percent. */
export const percent = () => named('percent', z.string().transform((v, ctx) => {
  const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v)
  if (!m || Number(m[1]) > 100) {
    ctx.addIssue({ code: 'custom', message: `expected a percentage such as 80%, got ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return Number(m[1])
}))

/** `ip:port`, `:port`, `[::1]:port` or a bare port; returns host and port. */
export const bind = () => named('"ip:port" \\| port', z.union([z.string(), z.number()]).transform((v, ctx) => {
  const parsed = parseBind(v)
  if (!parsed) {
    ctx.addIssue({ code: 'custom', message: `expected "ip:port" or a port number, got ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return parsed
}))

export interface BindAddress { host: string; port: number }

export function parseBind (v: string | number): BindAddress | undefined {
  const text = String(v).trim()
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]*)):(\d+)$/.exec(text) ?? (/^(\d+)$/.test(text) ? [text, undefined, '', text] : null)
  if (!m) return undefined
  const port = Number(m[3])
  if (!Number.isInteger(port) || port < 0 || port > 65535) return undefined
  const host = m[1] ?? (m[2] === '' || m[2] === undefined ? '0.0.0.0' : m[2])
  return { host, port }
}

/** Booleans as EMQX accepts them in env overrides: true/false and the strings "true"/"false". */
export const bool = () => named('boolean', z.union([z.boolean(), z.enum(['true', 'false'])]).transform((v) => v === true || v === 'true'))

/** Integers that may come as strings from env overrides. */
export const int = () => named('integer', z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = typeof v === 'number' ? v : /^-?\d+$/.test(v.trim()) ? Number(v) : Number.NaN
  if (!Number.isInteger(n)) {
    ctx.addIssue({ code: 'custom', message: `expected an integer, got ${JSON.stringify(v)}` })
    return z.NEVER
  }
  return n
}))
