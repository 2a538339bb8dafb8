// The keys Culex accepts for EMQX compatibility without acting on them: every row of the schema whose
// description says "no effect", and everything under a section whose description says so. `culex check`
// lists the ones a file sets; the broker logs them once at start (notice).
import type { Origin } from './hocon/index.js'
import { configRows } from './docs.js'

export interface NoEffectKey {
  /** The key as set, e.g. listeners.tcp.default.acceptors. */
  path: string
  origin: Origin
  /** The schema's description of the key (or of its section): what it is and why it has no effect. */
  why: string
}

let patterns: { why: string, match: RegExp }[] | null = null

function compile (): { why: string, match: RegExp }[] {
  return configRows()
    .filter((row) => /no effect/i.test(row.doc))
    .map((row) => {
      const path = row.path.split('.').map((p) => p === '<name>' ? '[^.]+' : p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('\\.')
      // A section covers the keys under it.
      return { why: row.doc, match: new RegExp(row.type === 'section' ? `^${path}(\\..+)?$` : `^${path}$`) }
    })
}

/** The keys among `origins` (where each key was set) that have no effect, in the order they were set. */
export function keysWithoutEffect (origins: Map<string, Origin>): NoEffectKey[] {
  if (origins.size === 0) return []
  patterns ??= compile()
  const found: NoEffectKey[] = []
  for (const [path, origin] of origins) {
    // One line for a section set without effect, not one more for each key in it.
    if (found.some((k) => path.startsWith(`${k.path}.`))) continue
    const hit = patterns.find((p) => p.match.test(path))
    if (hit) found.push({ path, origin, why: hit.why })
  }
  return found
}
