// The alarm certificate_expiring/<listener>[/<namespace>/<bundle>]: raised while a certificate an ssl or wss
// listener serves (its certfile, or a managed bundle's chain.pem) expires within CERT_EXPIRY_WINDOW_DAYS, or has
// expired; cleared when the listener serves one that does not, or stops. EMQX 5.8 has no such alarm: the name
// and the 30 days (seed 000's import rule refuses certificates that close to their end) are Culex's.
// Checked when the listener starts, whenever its certificates change, at the moment a served certificate
// enters the window, and at least every CHECK_INTERVAL_MS in case the clock jumped.
import { X509Certificate } from 'node:crypto'
import type { AlarmSink } from '../mqtt/alarms.js'
import { certificateBlocks } from '../certs/pem.js'

export const CERT_EXPIRY_WINDOW_DAYS = 30
const WINDOW_MS = CERT_EXPIRY_WINDOW_DAYS * 24 * 3600 * 1000
const CHECK_INTERVAL_MS = 3600 * 1000
export const CERT_EXPIRY_ALARM = 'certificate_expiring'

/** One certificate chain a listener serves: `bundle` is a managed bundle's label (namespace/name), else undefined (certfile). */
export interface ServedChain { bundle: string | undefined, source: string, pem: string | Buffer }

interface Watched { name: string, source: string, bundle: string | undefined, subject: string, serial: string, notAfter: number, fingerprint: string }

export class CertExpiry {
  readonly #alarms: AlarmSink
  readonly #listener: string
  #watched: Watched[] = []
  /** Alarm name → fingerprint of the certificate it was raised for. */
  readonly #raised = new Map<string, string>()
  #timer: NodeJS.Timeout | null = null

  constructor (alarms: AlarmSink, listenerId: string) {
    this.#alarms = alarms
    this.#listener = listenerId
  }

  /** The chains the listener serves now; alarms of chains no longer served are cleared. */
  update (chains: ServedChain[]): void {
    const watched: Watched[] = []
    for (const chain of chains) {
      const first = earliestExpiring(chain.pem)
      if (!first) continue
      const name = chain.bundle === undefined ? `${CERT_EXPIRY_ALARM}/${this.#listener}` : `${CERT_EXPIRY_ALARM}/${this.#listener}/${chain.bundle}`
      watched.push({ name, source: chain.source, bundle: chain.bundle, subject: first.subject.split('\n').join(','), serial: first.serialNumber.toUpperCase(), notAfter: Date.parse(first.validTo), fingerprint: first.fingerprint256 })
    }
    this.#watched = watched
    this.check()
  }

  /** Raises or clears each alarm for the time now, and sets the timer for the next check. */
  check (now = Date.now()): void {
    const names = new Set(this.#watched.map((w) => w.name))
    for (const name of [...this.#raised.keys()]) {
      if (!names.has(name)) this.#clear(name, 'no longer served')
    }
    let next = now + CHECK_INTERVAL_MS
    for (const w of this.#watched) {
      const enters = w.notAfter - WINDOW_MS
      if (now < enters) {
        if (this.#raised.has(w.name)) this.#clear(w.name, `replaced by ${w.subject}, valid until ${new Date(w.notAfter).toISOString()}`)
        next = Math.min(next, enters)
        continue
      }
      // A different certificate still in the window: raised again, with its own details.
      const raisedFor = this.#raised.get(w.name)
      if (raisedFor === w.fingerprint) continue
      if (raisedFor !== undefined) this.#clear(w.name, 'replaced')
      this.#raise(w, now)
    }
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => this.check(), Math.max(0, next - now) + 1).unref()
  }

  /** The listener stopped: its alarms are cleared. */
  close (): void {
    if (this.#timer) clearTimeout(this.#timer)
    this.#timer = null
    this.#watched = []
    for (const name of [...this.#raised.keys()]) this.#clear(name, 'listener stopped')
  }

  #raise (w: Watched, now: number): void {
    const expired = w.notAfter <= now
    const days = Math.floor(Math.abs(w.notAfter - now) / 86_400_000)
    const at = new Date(w.notAfter).toISOString()
    const what = `the certificate ${w.subject} served by listener ${this.#listener}${w.bundle ? ` (bundle ${w.bundle})` : ` (${w.source})`}`
    const message = expired ? `${what} expired at ${at}` : `${what} expires at ${at}, in ${days} day${days === 1 ? '' : 's'}`
    this.#alarms.activate(w.name, {
      listener: this.#listener,
      ...(w.bundle ? { bundle: w.bundle } : { certfile: w.source }),
      subject: w.subject,
      serial: w.serial,
      not_after: at,
      expired,
      threshold_days: CERT_EXPIRY_WINDOW_DAYS,
    }, message)
    this.#raised.set(w.name, w.fingerprint)
  }

  #clear (name: string, why: string): void {
    this.#raised.delete(name)
    this.#alarms.deactivate(name, { listener: this.#listener, cleared: why })
  }
}

/** The certificate of a chain that expires first (an intermediate may end before the leaf). */
function earliestExpiring (pem: string | Buffer): X509Certificate | undefined {
  let first: X509Certificate | undefined
  for (const block of certificateBlocks(pem.toString())) {
    let cert: X509Certificate
    try { cert = new X509Certificate(block) } catch { continue }
    if (!first || Date.parse(cert.validTo) < Date.parse(first.validTo)) first = cert
  }
  return first
}
