// Renders docs/config.md from the schema, so the documentation cannot drift from the defaults.
import type { z } from 'zod'
import { configSchema } from './schema.js'
import { EFFECTS, TYPE_NAMES, type Effect } from './types.js'

/** `effect`: set for keys accepted without effect (their own mark, a section's, or a doc saying "no effect"). */
export interface Row { path: string; type: string; default: string; doc: string; effect?: Effect }

type Def = { type: string, innerType?: z.ZodType, defaultValue?: unknown, shape?: Record<string, z.ZodType>, valueType?: z.ZodType, in?: z.ZodType, out?: z.ZodType, options?: z.ZodType[], values?: unknown[], entries?: Record<string, unknown> }

// zod 4's public `def`, narrowed to the fields read here.
const def = (schema: z.ZodType): Def => schema.def as unknown as Def

function unwrap (schema: z.ZodType): { core: z.ZodType, fallback: unknown, hasDefault: boolean, name?: string } {
  let s = schema
  let fallback: unknown
  let hasDefault = false
  for (;;) {
    const name = TYPE_NAMES.get(s)
    if (name) return { core: s, fallback, hasDefault, name }
    const d = def(s)
    if ((d.type === 'default' || d.type === 'prefault') && d.innerType) {
      if (!hasDefault) { fallback = d.defaultValue; hasDefault = true }
      s = d.innerType
    } else if (d.type === 'optional' && d.innerType) s = d.innerType
    // z.preprocess(fn, schema) is a pipe from a transform: the schema is its output side.
    else if (d.type === 'pipe' && d.in) s = def(d.in).type === 'transform' && d.out ? d.out : d.in
    else return { core: s, fallback, hasDefault }
  }
}

function typeName (schema: z.ZodType): string {
  const d = def(schema)
  switch (d.type) {
    case 'enum': return Object.keys(d.entries ?? {}).join(' \\| ')
    case 'literal': return (d.values ?? []).map(String).join(' \\| ')
    case 'union': return (d.options ?? []).map((o) => { const u = unwrap(o); return u.name ?? typeName(u.core) }).join(' \\| ')
    case 'array': return 'array'
    case 'record': return 'map'
    default: return d.type
  }
}

function show (value: unknown): string {
  if (value === undefined) return ''
  if (value === Number.POSITIVE_INFINITY) return 'infinity'
  if (typeof value === 'string' && /^[\w.:@%/-]+$/.test(value)) return value
  if (typeof value === 'object' && value !== null && 'host' in value && 'port' in value) return `"${String(value.host)}:${String(value.port)}"`
  return JSON.stringify(value)
}

function walk (schema: z.ZodType, path: string, rows: Row[], inherited?: Effect): void {
  const { core, fallback, hasDefault, name } = unwrap(schema)
  const d = def(core)
  const doc = schema.description ?? core.description ?? ''
  // Keys described before noEffect existed say "no effect" in their doc line; the reason follows it.
  const effect = EFFECTS.get(schema) ?? inherited ?? (/no effect/i.test(doc) ? { status: 'never' as const, why: doc.replace(/^.*?no effect(?: yet)?[:;,]?\s*/i, '') || doc } : undefined)
  const extra = effect ? { effect } : {}
  // A named type is one row, whatever its shape (the deprecated listener limiter).
  if (!name && d.type === 'object' && d.shape) {
    if ((doc || effect) && path) rows.push({ path, type: 'section', default: '', doc, ...extra })
    for (const [key, child] of Object.entries(d.shape)) walk(child, path ? `${path}.${key}` : key, rows, effect)
    return
  }
  if (d.type === 'record' && d.valueType) {
    rows.push({ path, type: 'map', default: '', doc, ...extra })
    walk(d.valueType, `${path}.<name>`, rows, effect)
    return
  }
  rows.push({ path, type: name ?? typeName(core), default: hasDefault ? show(fallback) : '', doc, ...extra })
}

const EFFECT_NAMES = { never: 'no effect (never)', 'not-yet': 'not yet implemented' }

let cachedRows: Row[] | undefined

/** Every key of the schema with its type, default and description (`<name>` for a map's entries). */
export function configRows (): Row[] {
  if (!cachedRows) walk(configSchema, '', cachedRows = [])
  return cachedRows
}

export function configDocs (): string {
  const rows = configRows()
  const escape = (s: string) => s.replaceAll('|', '\\|')
  const lines = [
    '# Configuration reference',
    '',
    'Generated from `src/config/schema.ts` by `npm run docs`; a test fails when this file is stale.',
    'Durations take `ms`, `s`, `m`, `h`, `d` (`15s`); sizes take `KB`, `MB`, `GB` (powers of 1024).',
    'Every key can be overridden from the environment: `EMQX_MQTT__MAX_PACKET_SIZE=2MB` or `CULEX_MQTT__MAX_PACKET_SIZE=2MB`.',
    'The effect column: implemented; no effect (never): accepted for EMQX compatibility, it cannot apply to Culex (Erlang VM tuning...);',
    'not yet implemented: accepted, an EMQX feature Culex has not built yet. Each key of the last two kinds set in a file is named in a notice at start and by `culex check`.',
    '',
    '| key | type | default | effect | description |',
    '|---|---|---|---|---|',
    ...rows.map((r) => `| \`${r.path}\` | ${r.type} | ${r.default ? `\`${escape(r.default)}\`` : ''} | ${r.effect ? EFFECT_NAMES[r.effect.status] : r.type === 'section' ? '' : 'implemented'} | ${escape(r.doc)} |`),
    '',
  ]
  return lines.join('\n')
}
