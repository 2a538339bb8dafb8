// The file source: acl.conf rules (EMQX's Erlang terms) from a file, or inline. The file is read again on
// SIGHUP and when it changes on disk; a text with an error is refused and the rules in force stay. Rules
// text set through the management API is written to node.data_dir/authz/acl.conf, as EMQX does.
import { readFileSync, watch, type FSWatcher } from 'node:fs'
import { mkdir, rename, writeFile } from 'node:fs/promises'
import { basename, dirname, isAbsolute, resolve } from 'node:path'
import type { AuthzSourceConfig } from '../config/schema.js'
import { CulexError } from '../errors.js'
import type { Log } from '../log.js'
import type { ClientInfo } from '../mqtt/hooks.js'
import { parseAclFile, type AclRule } from './acl-file.js'
import { rulesAnswer, rulesDenyScope } from './authz-match.js'
import type { AuthzRequest, AuthzSource, SourceAnswer, SourceEvents } from './authz-types.js'

type FileConfig = Extract<AuthzSourceConfig, { type: 'file' }>

/** Editors and `cp` write a file in several steps: a reload waits this long after the last change. */
const SETTLE_MS = 200

/** Where rules text set through the API is kept (EMQX: data/authz/acl.conf). */
export function managedAclPath (dataDir: string): string {
  return resolve(dataDir, 'authz', 'acl.conf')
}

/** Checks rules text, then writes it to `path` (a temporary file renamed over the old one); throws CULEX_ERR_ACL_PARSE with line and column. */
export async function writeAclFile (path: string, text: string): Promise<void> {
  parseAclFile(text, 'rules')
  await mkdir(dirname(path), { recursive: true, mode: 0o700 })
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, text, { mode: 0o600 })
  await rename(tmp, path)
}

function readAcl (path: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    // etc/base.hocon names etc/acl.conf: from another directory the file is not found, and the message says where it looked.
    const where = isAbsolute(path) ? '' : ` (a relative path is read from the working directory, ${process.cwd()})`
    throw new CulexError('CULEX_ERR_ACL_PARSE', `${path}: cannot read the ACL file${where}: ${(err as Error).message}`, { cause: err })
  }
}

export class FileSource implements AuthzSource {
  readonly id = 'file'
  /** The file the rules come from; undefined for inline rules. */
  readonly path: string | undefined
  #rules: AclRule[]
  #text: string
  readonly #log: Log | undefined
  readonly #events: SourceEvents | undefined
  #watcher: FSWatcher | null = null
  #timer: NodeJS.Timeout | null = null

  /** Rules already parsed (library and tests), or read from a config entry with `FileSource.load`. */
  constructor (rules: AclRule[], opts: { path?: string, text?: string, log?: Log, events?: SourceEvents } = {}) {
    this.#rules = rules
    this.path = opts.path
    this.#text = opts.text ?? ''
    this.#log = opts.log
    this.#events = opts.events
  }

  /** Reads a config entry's rules: inline `rules` text, or the file at `path`. Throws CULEX_ERR_ACL_PARSE. */
  static load (config: FileConfig, where: string, log?: Log, events?: SourceEvents): FileSource {
    if (config.rules !== undefined) return new FileSource(parseAclFile(config.rules, `${where}.rules`), { text: config.rules, log, events })
    const text = readAcl(config.path)
    return new FileSource(parseAclFile(text, config.path), { path: config.path, text, log, events })
  }

  get rules (): readonly AclRule[] { return this.#rules }

  /** The rules text in force (what the API shows). */
  get text (): string { return this.#text }

  authorize (client: ClientInfo, request: AuthzRequest): SourceAnswer {
    return rulesAnswer(this.#rules, client, request)
  }

  denyScope (): string[] | 'any' {
    return rulesDenyScope(this.#rules)
  }

  reload (why: string): boolean {
    const path = this.path
    if (path === undefined) return true
    let rules: AclRule[]
    let text: string
    try {
      text = readAcl(path)
      if (text === this.#text) return true
      rules = parseAclFile(text, path)
    } catch (err) {
      this.#log?.error({ file: path, trigger: why }, `ACL file not reloaded, the rules in force stay: ${(err as Error).message}`)
      return false
    }
    this.#rules = rules
    this.#text = text
    this.#log?.notice({ file: path, trigger: why, rules: rules.length }, 'ACL file reloaded')
    this.#events?.changed(this)
    return true
  }

  /** Watches the file's directory: files are often replaced (rename) rather than written in place. */
  watch (): void {
    if (this.path === undefined || this.#watcher) return
    const file = resolve(this.path)
    const dir = dirname(file)
    const name = basename(file)
    try {
      const watcher = watch(dir, (_event, changed) => {
        if (changed && basename(String(changed)) === name) this.#schedule()
      })
      watcher.on('error', (err) => {
        this.#log?.warning({ file }, `stopped watching the ACL file for changes (use SIGHUP): ${err.message}`)
        watcher.close()
      })
      watcher.unref()
      this.#watcher = watcher
    } catch (err) {
      this.#log?.warning({ file }, `cannot watch the ACL file for changes (use SIGHUP): ${(err as Error).message}`)
    }
  }

  #schedule (): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => { this.#timer = null; this.reload('file change') }, SETTLE_MS)
    this.#timer.unref()
  }

  close (): void {
    this.#watcher?.close()
    this.#watcher = null
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
  }
}

/** The file source's config as the API shows it (EMQX: the rules text, no path). */
export function fileSourceView (source: FileSource | null, config: FileConfig): { type: 'file', enable: boolean, rules: string } {
  let rules = source?.text
  if (rules === undefined) {
    try {
      rules = config.rules ?? readAcl(config.path)
    } catch {
      rules = ''
    }
  }
  return { type: 'file', enable: config.enable, rules }
}
