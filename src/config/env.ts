// EMQX-style configuration overrides from environment variables:
// EMQX_LISTENERS__SSL__DEFAULT__BIND="0.0.0.0:9883" sets listeners.ssl.default.bind.
import { parseHoconValue, type Origin } from './hocon/index.js'

export interface EnvOverride {
  /** The variable's name, e.g. EMQX_LOG__CONSOLE__LEVEL. */
  name: string
  path: string[]
  value: unknown
}

type Tree = Record<string, unknown>

/**
 * The overrides found in `env`, in the order they should be applied: by prefix (later prefixes
 * win, so CULEX_ beats EMQX_), then parents before children, then by name.
 */
export function readEnvOverrides(env: Record<string, string | undefined>, prefixes: string[] = ['EMQX_', 'CULEX_']): EnvOverride[] {
  const found: { override: EnvOverride; rank: number }[] = []
  for (const [name, raw] of Object.entries(env)) {
    if (raw === undefined) continue
    const rank = prefixRank(name, prefixes)
    if (rank < 0) continue
    const path = name.slice(prefixes[rank].length).toLowerCase().split('__')
    if (path.some((key) => key === '')) continue
    found.push({ override: { name, path, value: parseOrRaw(raw, env) }, rank })
  }
  found.sort((a, b) =>
    a.rank - b.rank ||
    a.override.path.length - b.override.path.length ||
    (a.override.name < b.override.name ? -1 : a.override.name > b.override.name ? 1 : 0))
  return found.map((f) => f.override)
}

/**
 * Writes each override into `tree`: objects are created along the path, an object value is merged
 * into an existing object, anything else replaces. Origins name the variable: `env:NAME`, line 0.
 */
export function applyEnvOverrides(tree: Tree, overrides: EnvOverride[], origins?: Map<string, Origin>): void {
  for (const { name, path, value } of overrides) {
    const origin: Origin = { file: `env:${name}`, line: 0, column: 0 }
    let parent = tree
    for (let i = 0; i < path.length - 1; i++) {
      const child = ownValue(parent, path[i])
      if (isObject(child)) {
        parent = child
        continue
      }
      const created: Tree = {}
      setOwn(parent, path[i], created)
      if (origins) replaceOrigins(origins, path.slice(0, i + 1).join('.'), origin)
      parent = created
    }
    const key = path[path.length - 1]
    const existing = ownValue(parent, key)
    const full = path.join('.')
    if (isObject(existing) && isObject(value)) {
      mergeInto(existing, value)
      origins?.set(full, origin)
    } else {
      setOwn(parent, key, structuredClone(value))
      if (origins) replaceOrigins(origins, full, origin)
    }
    if (origins) recordNested(origins, full, value, origin)
  }
}

function prefixRank(name: string, prefixes: string[]): number {
  // the longest matching prefix, in case one prefix starts with another
  let best = -1
  prefixes.forEach((prefix, i) => {
    if (name.length > prefix.length && name.startsWith(prefix) && (best < 0 || prefix.length > prefixes[best].length)) best = i
  })
  return best
}

function parseOrRaw(raw: string, env: Record<string, string | undefined>): unknown {
  try {
    return parseHoconValue(raw, { env })
  } catch {
    // Not a HOCON value (an unquoted URL, a bare word with ':'...): the variable's text is the string value.
    return raw
  }
}

function mergeInto(target: Tree, source: Tree): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = ownValue(target, key)
    if (isObject(existing) && isObject(value)) mergeInto(existing, value)
    else setOwn(target, key, structuredClone(value))
  }
}

/** Sets the origin of `path` and forgets those below it, which no longer exist. */
function replaceOrigins(origins: Map<string, Origin>, path: string, origin: Origin): void {
  for (const key of origins.keys()) if (key.startsWith(`${path}.`)) origins.delete(key)
  origins.set(path, origin)
}

function recordNested(origins: Map<string, Origin>, path: string, value: unknown, origin: Origin): void {
  const entries = Array.isArray(value) ? value.entries() : isObject(value) ? Object.entries(value) : []
  for (const [key, child] of entries) {
    const childPath = `${path}.${key}`
    if (isObject(child)) origins.set(childPath, origin)
    else replaceOrigins(origins, childPath, origin)
    recordNested(origins, childPath, child, origin)
  }
}

function isObject(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

function ownValue(obj: Tree, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined
}

function setOwn(obj: Tree, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true })
}
