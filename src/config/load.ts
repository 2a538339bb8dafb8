// Reads HOCON (file or text) or a plain object, applies EMQX_/CULEX_ environment overrides,
// and validates against the schema. Every failure names the file:line:column or the key path at fault.
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { CulexError } from '../errors.js'
import { HoconError, parseHocon, type Origin } from './hocon/index.js'
import { applyEnvOverrides, readEnvOverrides } from './env.js'
import { configSchema, FILE_PATH_KEYS, type CulexConfig } from './schema.js'

export interface LoadOptions {
  /** Path of a HOCON file. */
  file?: string
  /** HOCON text, or an already-parsed object. */
  config?: string | Record<string, unknown>
  /** Environment for overrides and `${?VAR}`; defaults to process.env. Pass {} to ignore it. */
  env?: Record<string, string | undefined>
  /**
   * Defaults for a broker embedded in another program (createBroker): an in-memory store unless the
   * configuration names node.data_dir or durable_storage.backend, and no management API unless it
   * configures dashboard.listeners.http, and a console log of warnings and worse unless log.console.level
   * is set. `culex start` keeps EMQX's defaults (LMDB in data/, API on 18083) and logs notices.
   */
  embedded?: boolean
}

export interface LoadedConfig {
  config: CulexConfig
  /** Environment variables that were applied, for the start-up log. */
  overrides: string[]
  /** Environment variables ignored because their first key is not a config section. */
  ignored: string[]
  /** Where each key was set: file, line and column (HOCON only). */
  origins: Map<string, Origin>
}

export function loadConfig (opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env
  const { tree, origins } = readTree(opts, env)
  const known = new Set(Object.keys(configSchema.shape))
  const all = readEnvOverrides(env)
  const applicable = all.filter((o) => known.has(o.path[0] ?? ''))
  applyEnvOverrides(tree, applicable, origins)
  if (opts.embedded) applyEmbeddedDefaults(tree)
  interpolateFilePaths(tree, (name) => envDirectory(name, env, opts.file))
  // Parsed once: zod's compiled fast path would cost more to build (~10 ms for this schema) than it saves.
  const result = configSchema.safeParse(tree, { jitless: true })
  if (!result.success) {
    const lines = result.error.issues.map((issue) => describeIssue(issue, origins, opts.file))
    throw new CulexError('CULEX_ERR_CONFIG_INVALID', lines.join('\n'))
  }
  return {
    config: withFastProperties(result.data),
    overrides: applicable.map((o) => o.name),
    ignored: all.filter((o) => !known.has(o.path[0] ?? '')).map((o) => o.name),
    origins,
  }
}

type Tree = Record<string, unknown>

/**
 * The parsed configuration with every plain object copied by spread. zod builds its output objects key by
 * key, and V8 keeps an object built that way with more than a few dozen keys (mqtt, node) as a hash table:
 * each read of config.mqtt.* on the PUBLISH path then costs a dictionary lookup (5% of fan-in throughput).
 * A spread copy gets a fixed shape and inline-cached reads.
 */
function withFastProperties<T> (value: T): T {
  if (Array.isArray(value)) return value.map(withFastProperties) as T
  if (value === null || typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return value
  const copy: Record<string, unknown> = {}
  for (const [key, item] of Object.entries(value)) copy[key] = withFastProperties(item)
  return { ...copy } as T
}

/** The directory an EMQX variable names: the environment's value, else EMQX_ETC_DIR is the configuration file's directory and EMQX_LOG_DIR is log. */
function envDirectory (name: string, env: Record<string, string | undefined>, file?: string): string | undefined {
  const value = env[name]
  if (value) return value
  if (name === 'EMQX_ETC_DIR') return file === undefined ? undefined : dirname(file)
  if (name === 'EMQX_LOG_DIR') return 'log'
  return undefined
}

/**
 * EMQX's naive_env_interpolation: `$VAR/rest` or `${VAR}/rest` is the variable's directory joined with rest;
 * an unknown variable leaves the path as written (and reading the file then fails naming it).
 */
export function interpolatePath (path: string, directory: (name: string) => string | undefined): string {
  const m = /^\$\{?([^/\\}]*)\}?(?:[/\\]+(.*))?$/s.exec(path)
  const dir = m ? directory(m[1]!) : undefined
  return m && dir !== undefined ? join(dir, m[2] ?? '') : path
}

function interpolateFilePaths (tree: unknown, directory: (name: string) => string | undefined): void {
  if (tree === null || typeof tree !== 'object') return
  for (const [key, value] of Object.entries(tree)) {
    if (typeof value === 'string' && value.startsWith('$') && !Array.isArray(tree) && FILE_PATH_KEYS.has(key)) {
      (tree as Tree)[key] = interpolatePath(value, directory)
    } else {
      interpolateFilePaths(value, directory)
    }
  }
}

const child = (tree: unknown, key: string): unknown =>
  tree !== null && typeof tree === 'object' ? (tree as Tree)[key] : undefined

function section (tree: Tree, key: string): Tree {
  const existing = tree[key]
  if (existing !== null && typeof existing === 'object') return existing as Tree
  return (tree[key] = {})
}

function applyEmbeddedDefaults (tree: Tree): void {
  if (child(tree.node, 'data_dir') === undefined && child(tree.durable_storage, 'backend') === undefined) {
    section(tree, 'durable_storage').backend = 'memory'
  }
  if (child(child(tree.log, 'console'), 'level') === undefined) {
    section(section(tree, 'log'), 'console').level = 'warning'
  }
  if (child(child(tree.dashboard, 'listeners'), 'http') === undefined) {
    section(section(section(tree, 'dashboard'), 'listeners'), 'http').enable = false
  }
}

function readTree (opts: LoadOptions, env: Record<string, string | undefined>) {
  if (opts.file !== undefined) {
    let text: string
    try {
      text = readFileSync(opts.file, 'utf8')
    } catch (err) {
      throw new CulexError('CULEX_ERR_CONFIG_FILE', `${opts.file}: ${(err as Error).message}`, { cause: err })
    }
    return parse(text, opts.file, env)
  }
  if (typeof opts.config === 'string') return parse(opts.config, '<config>', env)
  return { tree: structuredClone(opts.config ?? {}), origins: new Map<string, Origin>() }
}

function parse (text: string, file: string, env: Record<string, string | undefined>) {
  try {
    const { value, origins } = parseHocon(text, { file, env })
    return { tree: value, origins }
  } catch (err) {
    if (err instanceof HoconError) throw new CulexError('CULEX_ERR_CONFIG_PARSE', err.message, { cause: err })
    throw err
  }
}

interface Issue { path: PropertyKey[]; message: string; code: string; keys?: string[] }

function describeIssue (issue: Issue, origins: Map<string, Origin>, file?: string): string {
  const path = issue.path.map(String)
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    return issue.keys.map((key) => {
      const full = [...path, key].join('.')
      return `${where(full, origins, file)}unknown key ${full || '""'}`
    }).join('\n')
  }
  const full = path.join('.')
  return `${where(full, origins, file)}${full || '(root)'}: ${issue.message}`
}

/** The origin of a path, else of its first descendant that has one (an object's first key), else of its nearest ancestor (a key that is missing). */
function where (path: string, origins: Map<string, Origin>, file?: string): string {
  let origin = origins.get(path)
  if (!origin) {
    for (const [key, value] of origins) {
      if (key.startsWith(path + '.')) { origin = value; break }
    }
  }
  for (let up = path; !origin && up.includes('.');) {
    up = up.slice(0, up.lastIndexOf('.'))
    origin = origins.get(up)
  }
  if (origin) return `${formatOrigin(origin)}: `
  return file ? `${file}: ` : ''
}

/** `file:line:column`, or the file (an environment variable) alone where there is no line. */
export function formatOrigin (origin: Origin): string {
  return origin.line > 0 ? `${origin.file}:${origin.line}:${origin.column}` : origin.file
}
