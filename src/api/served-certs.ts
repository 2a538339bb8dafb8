// The certificates ssl and wss listeners serve, as the dashboard shows them: for each chain (certfile, or a
// managed bundle with its SNI name) the leaf's subject, SANs and end, and the certificate of the chain that
// ends first. A running listener reports what it loaded; a stopped one, what its configuration names.
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { inspectPem, type CertificateInfo } from '../certs/index.js'
import { refOf, sameRef, type BundleRef } from '../certs/store.js'
import type { SslOptions } from '../config/schema.js'
import type { Listener, ServedChain } from '../listeners/index.js'
import type { ApiHost } from './common.js'

export interface CertFacts {
  subject: string
  issuer: string
  serial: string
  sans: string[]
  not_before: string
  not_after: string
  /** Whole days until not_after, negative once past. */
  days_left: number
  expired: boolean
}

export interface ServedCert {
  /** `certfile` or `bundle`. */
  kind: 'certfile' | 'bundle'
  /** The certfile's path, or the bundle as namespace/name (global for the global namespace). */
  source: string
  /** The server name that selects the bundle ('' for the default); null for a certfile. */
  sni: string | null
  leaf: CertFacts
  /** The certificate of the chain that ends first (an intermediate may end before the leaf). */
  ends_first: CertFacts
}

export const certFactsSchema = {
  type: 'object',
  properties: {
    subject: { type: 'string' },
    issuer: { type: 'string' },
    serial: { type: 'string', description: 'Upper-case hex' },
    sans: { type: 'array', items: { type: 'string' }, description: 'DNS:..., IP:..., email:..., URI:...' },
    not_before: { type: 'string', description: 'RFC 3339' },
    not_after: { type: 'string', description: 'RFC 3339' },
    days_left: { type: 'integer', description: 'Whole days until not_after, negative once past' },
    expired: { type: 'boolean' },
  },
} as const

export const servedCertSchema = {
  type: 'object',
  properties: {
    kind: { type: 'string', enum: ['certfile', 'bundle'] },
    source: { type: 'string', description: 'The certfile\'s path, or the managed bundle as namespace/name' },
    sni: { type: ['string', 'null'], description: 'Server name that selects the bundle (\'\' for the default one); null for a certfile' },
    leaf: certFactsSchema,
    ends_first: certFactsSchema,
  },
} as const

const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, '+00:00')

export function certFacts (c: CertificateInfo): CertFacts {
  return {
    subject: c.subject,
    issuer: c.issuer,
    serial: c.serial.toUpperCase(),
    sans: c.sans,
    not_before: iso(c.notBefore),
    not_after: iso(c.notAfter),
    days_left: c.daysLeft,
    expired: c.state === 'expired',
  }
}

/** The leaf and the first to end of a PEM chain; undefined when it holds no readable certificate. */
export function chainFacts (pem: string | Buffer): { leaf: CertFacts, ends_first: CertFacts } | undefined {
  let certs: CertificateInfo[]
  try {
    certs = inspectPem(pem.toString()).certificates
  } catch {
    return undefined
  }
  if (certs.length === 0) return undefined
  const first = certs.reduce((a, b) => (b.notAfter.getTime() < a.notAfter.getTime() ? b : a))
  return { leaf: certFacts(certs[0]!), ends_first: certFacts(first) }
}

const labelOf = (m: { namespace?: string | undefined, bundle_name: string }) => `${m.namespace ?? 'global'}/${m.bundle_name}`

/** The chains a stopped listener would serve, read from its configuration. */
async function configuredChains (host: ApiHost, ssl: SslOptions): Promise<ServedChain[]> {
  if (ssl.managed_certs.length > 0) {
    const chains = await Promise.all(ssl.managed_certs.map(async (m) => {
      const pem = await host.certStore.read(refOf(m)).catch(() => undefined)
      return pem?.chain ? { bundle: labelOf(m), source: labelOf(m), pem: pem.chain } : undefined
    }))
    return chains.filter((c) => c !== undefined)
  }
  const pem = await readCertfile(ssl.certfile)
  return pem ? [{ bundle: undefined, source: ssl.certfile, pem }] : []
}

/** A certfile's content; undefined when it cannot be read (the listener's own start-up names the fault). */
export function readCertfile (path: string): Promise<Buffer | undefined> {
  return readFile(resolve(path)).catch(() => undefined)
}

/** What an ssl or wss listener serves (or would, stopped); [] for other listeners. */
export async function servedCerts (host: ApiHost, listener: Listener, ssl: SslOptions): Promise<ServedCert[]> {
  const chains = listener.running && listener.servedCertificates ? listener.servedCertificates() : await configuredChains(host, ssl)
  const out: ServedCert[] = []
  for (const chain of chains) {
    const f = chainFacts(chain.pem)
    if (!f) continue
    const entry = chain.bundle === undefined ? undefined : ssl.managed_certs.find((m) => labelOf(m) === chain.bundle)
    out.push({ kind: chain.bundle === undefined ? 'certfile' : 'bundle', source: chain.source, sni: entry ? entry.sni : null, ...f })
  }
  return out
}

/** Every ssl and wss listener's TLS options, by listener id. */
export function tlsListeners (host: ApiHost): [string, SslOptions][] {
  const { ssl, wss } = host.config.listeners
  return [
    ...Object.entries(ssl).map(([name, c]) => [`ssl:${name}`, c.ssl_options] as [string, SslOptions]),
    ...Object.entries(wss).map(([name, c]) => [`wss:${name}`, c.ssl_options] as [string, SslOptions]),
  ]
}

export interface BundleUse { listener: string, sni: string | null }

/** The listeners whose configuration serves this bundle (enabled or not), with the server name selecting it. */
export function bundleUsers (listeners: [string, SslOptions][], ref: BundleRef): BundleUse[] {
  return listeners.flatMap(([id, ssl]) => ssl.managed_certs.filter((m) => sameRef(refOf(m), ref)).map((m) => ({ listener: id, sni: m.sni })))
}
