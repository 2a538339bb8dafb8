// Managed certificates on a TLS listener (EMQX `ssl_options.managed_certs`): one cached SecureContext per
// bundle, the client's SNI picks the bundle (exact name or `*.example.com`), the first bundle is the default.
// A bundle's ca.pem is the client CA of the handshakes that select it; a bundle without one trusts no client CA.
import { createSecureContext, type SecureContext, type TlsOptions } from 'node:tls'
import type { SslOptions } from '../config/schema.js'
import { refOf, sameRef, type BundleRef, type CertStore } from '../certs/store.js'
import { CulexError } from '../errors.js'
import { tlsServerOptions, trustsClientCa } from './tls-context.js'

type Entry = SslOptions['managed_certs'][number]

interface Loaded { entry: Entry; ref: BundleRef; label: string; options: TlsOptions; context: SecureContext }

export class ManagedCerts {
  readonly #store: CertStore
  readonly #opts: SslOptions
  readonly #id: string
  /** In managed_certs order; a bundle that could not be loaded is absent. */
  #loaded: Loaded[] = []

  constructor (store: CertStore, opts: SslOptions, listenerId: string) {
    this.#store = store
    this.#opts = opts
    this.#id = listenerId
  }

  get store (): CertStore { return this.#store }

  /** Loads every bundle; throws when none can serve, naming the bundles at fault. */
  async load (): Promise<void> {
    const loaded: Loaded[] = []
    const problems: string[] = []
    for (const entry of this.#opts.managed_certs) {
      try {
        loaded.push(await this.#build(entry))
      } catch (err) {
        problems.push((err as Error).message)
      }
    }
    if (loaded.length === 0) {
      throw new CulexError('CULEX_ERR_TLS_CONFIG', `listener ${this.#id}: no managed certificate bundle can be used: ${problems.join('; ')}`)
    }
    this.#loaded = loaded
  }

  /** Whether the listener uses this bundle. */
  uses (ref: BundleRef): boolean {
    return this.#opts.managed_certs.some((e) => sameRef(refOf(e), ref))
  }

  /** Rebuilds one bundle after a change; returns false (keeping the old context) when it no longer loads. */
  async refresh (ref: BundleRef): Promise<boolean> {
    const at = this.#opts.managed_certs.findIndex((e) => sameRef(refOf(e), ref))
    if (at < 0) return false
    const fresh = await this.#build(this.#opts.managed_certs[at]!)
    const kept = this.#loaded.filter((l) => !sameRef(l.ref, ref))
    kept.push(fresh)
    this.#loaded = this.#sorted(kept)
    return true
  }

  /** Forgets a deleted bundle; handshakes that selected it get the default from now on. */
  remove (ref: BundleRef): void {
    this.#loaded = this.#loaded.filter((l) => !sameRef(l.ref, ref))
  }

  /** The chain each loaded bundle serves, labelled namespace/name. */
  served (): { bundle: string, source: string, pem: string | Buffer }[] {
    return this.#loaded.map((l) => ({ bundle: l.label, source: l.label, pem: l.options.cert as string | Buffer }))
  }

  /** Labels of the loaded bundles that have no ca.pem (they trust no CA for client certificates). */
  bundlesWithoutCa (): string[] {
    return this.#loaded.filter((l) => !trustsClientCa(l.options)).map((l) => l.label)
  }

  /** Options for the server's default context (the first bundle), with the SNI callback. */
  serverOptions (): TlsOptions {
    const first = this.#loaded[0]
    if (!first) throw new CulexError('CULEX_ERR_TLS_CONFIG', `listener ${this.#id}: every managed certificate bundle has been removed`)
    return {
      ...first.options,
      SNICallback: (servername: string, done: (err: Error | null, ctx?: SecureContext) => void) => {
        const chosen = this.select(servername)
        if (chosen) done(null, chosen.context)
        else done(new CulexError('CULEX_ERR_TLS_CONFIG', 'no managed certificate bundle left'))
      },
    }
  }

  /** The bundle for a server name: exact match, then `*.domain` for one label, else the first (default). */
  select (servername: string | undefined): Loaded | undefined {
    const name = (servername ?? '').toLowerCase()
    if (name) {
      const exact = this.#loaded.find((l) => l.entry.sni.toLowerCase() === name)
      if (exact) return exact
      const dot = name.indexOf('.')
      if (dot > 0) {
        const wildcard = `*${name.slice(dot)}`
        const match = this.#loaded.find((l) => l.entry.sni.toLowerCase() === wildcard)
        if (match) return match
      }
    }
    return this.#loaded[0]
  }

  async #build (entry: Entry): Promise<Loaded> {
    const ref = refOf(entry)
    const label = `${ref.namespace ?? 'global'}/${ref.name}`
    const pem = await this.#store.read(ref)
    if (!pem) throw new CulexError('CULEX_ERR_TLS_CONFIG', `bundle ${label} is not in the certificate store`)
    if (!pem.key || !pem.chain) throw new CulexError('CULEX_ERR_TLS_CONFIG', `bundle ${label} lacks ${pem.key ? 'chain.pem' : 'key.pem'}`)
    const options = tlsServerOptions(this.#opts, { cert: Buffer.from(pem.chain), key: Buffer.from(pem.key), ca: pem.ca ? Buffer.from(pem.ca) : undefined }, `${this.#id} (bundle ${label})`)
    return { entry, ref, label, options, context: createSecureContext(options) }
  }

  #sorted (list: Loaded[]): Loaded[] {
    const order = (l: Loaded) => this.#opts.managed_certs.findIndex((e) => sameRef(refOf(e), l.ref))
    return list.sort((a, b) => order(a) - order(b))
  }
}
