// Managed certificate bundles on disk (EMQX 6.1's shape): data/certs/<namespace>/<bundle>/{key,chain,ca}.pem,
// the global namespace in data/certs/global/. Uploads are checked against seed 000's import rules before they
// replace anything; listeners hear about every change and deletion.
import { EventEmitter } from 'node:events'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { CulexError } from '../errors.js'

export const BUNDLE_FILES = ['key', 'chain', 'ca'] as const
export type BundleFile = (typeof BUNDLE_FILES)[number]

/** A bundle's name; `namespace` undefined is the global namespace. */
export interface BundleRef { namespace?: string | undefined; name: string }

/** PEM texts of a bundle; any may be missing while a bundle is being assembled. */
export type BundlePem = Partial<Record<BundleFile, string>>

export interface BundleUpload extends BundlePem { key_password?: string }

/** What the API shows of a bundle: file paths, never the key's content. */
export type BundleInfo = Partial<Record<BundleFile, { path: string }>>

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/
const GLOBAL = 'global'

export interface CertStoreEvents {
  /** A bundle's files changed (upload or partial delete). */
  change: [ref: BundleRef]
  /** A bundle was removed. */
  delete: [ref: BundleRef]
}

export class CertStore extends EventEmitter<CertStoreEvents> {
  readonly root: string

  constructor (dataDir: string) {
    super()
    this.root = resolve(dataDir, 'certs')
  }

  dir (ref: BundleRef): string {
    checkName('namespace', ref.namespace ?? GLOBAL)
    checkName('bundle name', ref.name)
    return join(this.root, ref.namespace ?? GLOBAL, ref.name)
  }

  async list (namespace?: string): Promise<string[]> {
    checkName('namespace', namespace ?? GLOBAL)
    try {
      const entries = await readdir(join(this.root, namespace ?? GLOBAL), { withFileTypes: true })
      return entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()
    } catch (err) {
      // No directory yet: nothing was uploaded to this namespace.
      if (isAbsent(err)) return []
      throw storeError(`cannot list ${join(this.root, namespace ?? GLOBAL)}`, err)
    }
  }

  /** The namespaces that hold bundles, the global one (undefined) first. */
  async namespaces (): Promise<(string | undefined)[]> {
    try {
      const entries = await readdir(this.root, { withFileTypes: true })
      return [undefined, ...entries.filter((e) => e.isDirectory() && e.name !== GLOBAL && NAME.test(e.name)).map((e) => e.name).sort()]
    } catch (err) {
      if (isAbsent(err)) return [undefined]
      throw storeError(`cannot list ${this.root}`, err)
    }
  }

  async info (ref: BundleRef): Promise<BundleInfo | undefined> {
    const dir = this.dir(ref)
    if (!existsSync(dir)) return undefined
    const info: BundleInfo = {}
    for (const file of BUNDLE_FILES) {
      const path = join(dir, `${file}.pem`)
      if (existsSync(path)) info[file] = { path }
    }
    return info
  }

  /** The bundle's PEM texts (key included, for listeners), or undefined when it does not exist. */
  async read (ref: BundleRef): Promise<BundlePem | undefined> {
    const dir = this.dir(ref)
    if (!existsSync(dir)) return undefined
    const pem: BundlePem = {}
    for (const file of BUNDLE_FILES) {
      const path = join(dir, `${file}.pem`)
      try {
        pem[file] = await readFile(path, 'utf8')
      } catch (err) {
        // A bundle may lack any of its files.
        if (!isAbsent(err)) throw storeError(`cannot read ${path}`, err)
      }
    }
    return pem
  }

  /**
   * Checks the bundle as it would be after the upload (files not uploaded are kept) and writes it.
   * Throws CULEX_ERR_CERT_INVALID naming the rule; returns the rules' warnings (RSA 1024, ...).
   */
  async put (ref: BundleRef, upload: BundleUpload, opts: { ignoreValidityWindow?: boolean } = {}): Promise<{ warnings: string[] }> {
    const given = BUNDLE_FILES.filter((f) => typeof upload[f] === 'string' && upload[f] !== '')
    if (given.length === 0) throw new CulexError('CULEX_ERR_CERT_INVALID', 'rule pem: upload at least one of key, chain, ca')
    const merged: BundlePem = { ...(await this.read(ref)) }
    for (const f of given) merged[f] = upload[f]
    // Loaded here, not with the broker: the checks pull in node:tls and the key tooling.
    const { checkBundle } = await import('./check.js')
    const { warnings, key } = checkBundle({ keyPem: merged.key, chainPem: merged.chain, caPem: merged.ca, keyPassword: upload.key_password, ignoreValidityWindow: opts.ignoreValidityWindow })
    // An encrypted key is stored decrypted (and 0600), as listeners need it without the password.
    if (key !== undefined && given.includes('key')) merged.key = key
    const dir = this.dir(ref)
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 })
      for (const f of given) await writeAtomic(join(dir, `${f}.pem`), merged[f]!, f === 'key' ? 0o600 : 0o644)
    } catch (err) {
      throw storeError(`cannot write ${dir}`, err)
    }
    this.emit('change', ref)
    return { warnings }
  }

  /** Deletes the bundle, or one of its files; returns whether anything was there. */
  async delete (ref: BundleRef, file?: BundleFile): Promise<boolean> {
    const dir = this.dir(ref)
    if (!existsSync(dir)) return false
    if (file) {
      const path = join(dir, `${file}.pem`)
      if (!existsSync(path)) return false
      await rm(path)
      this.emit('change', ref)
      return true
    }
    await rm(dir, { recursive: true, force: true })
    this.emit('delete', ref)
    return true
  }
}

const isAbsent = (err: unknown) => (err as NodeJS.ErrnoException).code === 'ENOENT'

function storeError (what: string, err: unknown): CulexError {
  return new CulexError('CULEX_ERR_CERT_STORE', `certificate store: ${what}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err })
}

function checkName (what: string, name: string): void {
  if (!NAME.test(name)) throw new CulexError('CULEX_ERR_CERT_INVALID', `${what} ${JSON.stringify(name)} must be letters, digits, '_', '.' or '-'`, { details: { field: what === 'namespace' ? 'namespace' : 'name', rule: 'name' } })
}

/** Writes through a temporary file and rename, so a listener never reads half a file. */
async function writeAtomic (path: string, content: string, mode: number): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  await writeFile(tmp, content, { mode })
  await chmod(tmp, mode)
  await rename(tmp, path)
}

/** `{ namespace?, bundle_name }` from a listener's managed_certs entry. */
export function refOf (entry: { namespace?: string | undefined, bundle_name: string }): BundleRef {
  return { namespace: entry.namespace, name: entry.bundle_name }
}

export function sameRef (a: BundleRef, b: BundleRef): boolean {
  return a.name === b.name && (a.namespace ?? GLOBAL) === (b.namespace ?? GLOBAL)
}
