// The keys a configuration sets that Culex accepts without effect: one line each, logged at start and
// printed by `culex check`.
import { configRows } from './docs.js'
import type { Origin } from './hocon/index.js'
import { formatOrigin } from './load.js'

export interface NoEffectKey {
  /** The key as written, e.g. flapping_detect.max_count. */
  path: string
  /** `file:line:column: path: accepted without effect: why`. */
  line: string
}

let patterns: { match: RegExp, text: string }[] | undefined

// A map's entry name (`<name>`) may be absent before further keys: EMQX's log.file { level = ... } is the handler named default.
const pattern = (path: string) => new RegExp(`^${path.split('.').map((p, i, all) =>
  p === '<name>' ? (i === all.length - 1 ? '\\.[^.]+' : '(?:\\.[^.]+)?') : `${i === 0 ? '' : '\\.'}${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`).join('')}$`)

/** Every key set (one per leaf value; an array counts as one) whose schema row says it has no effect. */
export function keysWithoutEffect (origins: Map<string, Origin>): NoEffectKey[] {
  if (origins.size === 0) return []
  patterns ??= configRows()
    .filter((row) => row.effect && row.type !== 'section' && row.type !== 'map')
    .map((row) => ({
      match: pattern(row.path),
      text: row.effect!.status === 'not-yet' ? `not yet implemented in Culex: ${row.effect!.why}` : row.effect!.why,
    }))
  const keys: NoEffectKey[] = []
  for (const [path, origin] of origins) {
    const found = patterns.find((p) => p.match.test(path))
    if (found) keys.push({ path, line: `${formatOrigin(origin)}: ${path}: accepted without effect: ${found.text}` })
  }
  return keys
}
