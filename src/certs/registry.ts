// The device-certificate registry of seed 001 (ApsaraMQ for MQTT): CA certificates are registered; a device
// certificate signed by a registered, active CA is registered on its first connection; either can be
// deactivated (its clients refused, the connected ones dropped), activated again and deleted. A deleted
// device registers again at its next connection while its CA is active. Records live in the data store.
// Serials are unique only within one CA: devices are keyed by (CA serial, device serial), so one tenant's
// CA cannot claim, deactivate or block another CA's device serials.
import { X509Certificate } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { CulexError } from '../errors.js'
import type { PeerCertificate } from '../mqtt/tls-info.js'
import type { KvStore, KvTable, StoreErrorHandler } from '../store/kv.js'
import { oneLineName, parseCertificates } from './pem.js'

export type CertStatus = 'active' | 'inactive'
export const CERT_STATUSES: readonly CertStatus[] = ['active', 'inactive']

export interface CaRecord {
  /** Upper-case hex, as `openssl x509 -serial` prints it. */
  serial: string
  subject: string
  cn: string
  not_before: string
  not_after: string
  fingerprint: string
  status: CertStatus
  registered_at: string
  pem: string
}

export interface DeviceRecord {
  serial: string
  subject: string
  cn: string
  ca_serial: string
  not_after: string
  fingerprint: string
  status: CertStatus
  first_seen: string
  last_seen: string
}

/** Why a device certificate is refused, for the TLS listener's log line and counter. */
export interface RegistryRefusal {
  reason: 'ca_not_registered' | 'ca_inactive' | 'device_inactive' | 'bad_peer_cert'
  detail: string
}

export interface RegistryEvents {
  /** A CA was registered, changed status or was deleted: listeners rebuild their trust set. */
  ca: [serial: string]
  /** These devices must not stay connected (deactivated, or their CA deactivated or deleted). */
  revoke: [devices: DeviceRecord[], why: string]
  /** A device registered on its first connection (a cluster tells the other nodes). */
  registered: [device: DeviceRecord]
}

const serialOf = (cert: X509Certificate) => cert.serialNumber.toUpperCase()
const cnOf = (subject: string) => /(?:^|\n)CN=([^\n]*)/.exec(subject)?.[1] ?? ''
const iso = (date: string) => new Date(date).toISOString()
/** A device's key in the store. Before (CA, serial) keying, the key was the serial alone (no colon). */
const deviceKey = (caSerial: string, serial: string) => `${caSerial}:${serial}`
const keyOf = (device: DeviceRecord) => deviceKey(device.ca_serial, device.serial)

export class DeviceRegistry extends EventEmitter<RegistryEvents> {
  readonly #cas: KvTable<CaRecord>
  readonly #devices: KvTable<DeviceRecord>
  /** Parsed CA certificates by serial, for finding a device's issuer without parsing PEM per connection. */
  readonly #caCerts = new Map<string, X509Certificate>()

  readonly #onStoreError: StoreErrorHandler

  /** `onStoreError` hears of the store writes no caller waits for (the re-keying of old records). */
  constructor (store: KvStore, onStoreError: StoreErrorHandler) {
    super()
    this.#onStoreError = onStoreError
    this.#cas = store.table('ca_certs')
    this.#devices = store.table('device_certs')
    for (const [serial, ca] of this.#cas.entries()) this.#caCerts.set(serial, new X509Certificate(ca.pem))
    this.#migrateDeviceKeys()
  }

  /**
   * Re-keys records stored by serial alone under (CA serial, serial). Until the writes land, #record also
   * reads the old key, so nothing is missed on the way.
   */
  #migrateDeviceKeys (): void {
    const legacy = [...this.#devices.entries()].filter(([key]) => !key.includes(':'))
    for (const [key, device] of legacy) {
      // A failed write leaves the old key, still read by #record and re-keyed by the device's next update.
      this.#devices.put(keyOf(device), device).then(() => this.#devices.remove(key))
        .catch((err: unknown) => this.#onStoreError(err as Error, `re-keying device ${key} of the device registry`))
    }
  }

  /** The stored record of (CA, serial), under its key or, before migration, under the serial alone. */
  #record (caSerial: string, serial: string): DeviceRecord | undefined {
    const found = this.#devices.get(deviceKey(caSerial, serial))
    if (found) return found
    const legacy = this.#devices.get(serial)
    return legacy?.ca_serial === caSerial ? legacy : undefined
  }

  async #putDevice (device: DeviceRecord): Promise<void> {
    await this.#devices.put(keyOf(device), device)
    await this.#removeLegacyKey(device)
  }

  async #removeDevice (device: DeviceRecord): Promise<void> {
    await this.#devices.remove(keyOf(device))
    await this.#removeLegacyKey(device)
  }

  /** The device's record under the serial alone, as stored before (CA, serial) keying, if it is still there. */
  async #removeLegacyKey (device: DeviceRecord): Promise<void> {
    if (this.#devices.get(device.serial)?.ca_serial === device.ca_serial) await this.#devices.remove(device.serial)
  }

  // ---- CAs ----

  /** Registers a CA certificate (PEM); refuses a non-CA, an expired one and a serial already registered. */
  async registerCa (pem: string, status: CertStatus = 'active'): Promise<CaRecord> {
    let certs: X509Certificate[]
    try {
      certs = parseCertificates(pem, 'CA certificate')
    } catch (err) {
      // A PEM block whose content is not a certificate: the sender's mistake, answered as such.
      throw registryError(`certificate: ${(err as Error).message}; send the CA certificate as PEM, as written by openssl or npx culex certs ca`)
    }
    if (certs.length !== 1) throw registryError(certs.length === 0 ? 'certificate: no PEM certificate (-----BEGIN CERTIFICATE-----) found' : `certificate: expected one PEM certificate, got ${certs.length}`)
    const cert = certs[0]!
    const serial = serialOf(cert)
    if (!cert.ca) throw registryError(`${oneLineName(cert.subject)} is not a CA certificate (basicConstraints CA:TRUE missing)`)
    const now = Date.now()
    if (Date.parse(cert.validTo) < now) throw registryError(`${oneLineName(cert.subject)} expired on ${iso(cert.validTo)}`)
    if (Date.parse(cert.validFrom) > now) throw registryError(`${oneLineName(cert.subject)} is not valid before ${iso(cert.validFrom)}`)
    if (this.#cas.get(serial)) throw registryError(`a CA certificate with serial ${serial} is already registered`, 'exists')
    const record: CaRecord = {
      serial,
      subject: oneLineName(cert.subject),
      cn: cnOf(cert.subject),
      not_before: iso(cert.validFrom),
      not_after: iso(cert.validTo),
      fingerprint: cert.fingerprint256,
      status,
      registered_at: new Date(now).toISOString(),
      pem: cert.toString(),
    }
    await this.#cas.put(serial, record)
    this.#caCerts.set(serial, cert)
    this.emit('ca', serial)
    return record
  }

  cas (): CaRecord[] {
    return [...this.#cas.entries()].map(([, ca]) => ca)
  }

  ca (serial: string): CaRecord | undefined {
    return this.#cas.get(serial.toUpperCase())
  }

  async setCaStatus (serial: string, status: CertStatus): Promise<CaRecord> {
    const ca = this.#mustCa(serial)
    if (ca.status === status) return ca
    const updated = { ...ca, status }
    await this.#cas.put(ca.serial, updated)
    this.emit('ca', ca.serial)
    if (status === 'inactive') this.#revokeDevicesOf(ca.serial, `CA ${ca.serial} deactivated`)
    return updated
  }

  /** Deletes a CA: its devices are refused from now on (their records stay, for the operator to see). */
  async deleteCa (serial: string): Promise<void> {
    const ca = this.#mustCa(serial)
    await this.#cas.remove(ca.serial)
    this.#caCerts.delete(ca.serial)
    this.emit('ca', ca.serial)
    this.#revokeDevicesOf(ca.serial, `CA ${ca.serial} deleted`)
  }

  /** PEM of every registered CA, active or not: an inactive CA's devices are refused by name, not as unknown. */
  trustedPems (): string[] {
    return this.cas().map((ca) => ca.pem)
  }

  // ---- devices ----

  devices (filter: { ca_serial?: string | undefined, status?: CertStatus | undefined, serial?: string | undefined } = {}): DeviceRecord[] {
    const ca = filter.ca_serial?.toUpperCase()
    const serial = filter.serial?.toUpperCase()
    // A record met under both keys while it is being migrated is listed once.
    const unique = new Map<string, DeviceRecord>()
    for (const [, d] of this.#devices.entries()) unique.set(keyOf(d), d)
    return [...unique.values()].filter((d) => (ca === undefined || d.ca_serial === ca) &&
      (serial === undefined || d.serial === serial) && (filter.status === undefined || d.status === filter.status))
  }

  /**
   * The device with this serial under that CA; without a CA, the only device with this serial (undefined
   * when none, or when several CAs have one: then name the CA).
   */
  device (serial: string, caSerial?: string): DeviceRecord | undefined {
    if (caSerial !== undefined) return this.#record(caSerial.toUpperCase(), serial.toUpperCase())
    const found = this.devices({ serial })
    return found.length === 1 ? found[0] : undefined
  }

  async setDeviceStatus (serial: string, status: CertStatus, caSerial?: string): Promise<DeviceRecord> {
    const device = this.#mustDevice(serial, caSerial)
    if (device.status === status) return device
    const updated = { ...device, status }
    await this.#putDevice(updated)
    if (status === 'inactive') this.emit('revoke', [updated], `device certificate ${device.serial} of CA ${device.ca_serial} deactivated`)
    return updated
  }

  /** Deletes a device record; returns it (its CA serial tells a cluster which one). */
  async deleteDevice (serial: string, caSerial?: string): Promise<DeviceRecord> {
    const device = this.#mustDevice(serial, caSerial)
    await this.#removeDevice(device)
    return device
  }

  // ---- changes made on another node of a cluster ----

  /** Takes a CA as another node has it after a change (undefined: deleted there); revokes as a local change would. */
  async mirrorCa (serial: string, record: CaRecord | undefined): Promise<void> {
    const old = this.#cas.get(serial)
    if (record) {
      await this.#cas.put(serial, record)
      this.#caCerts.set(serial, new X509Certificate(record.pem))
    } else {
      if (!old) return
      await this.#cas.remove(serial)
      this.#caCerts.delete(serial)
    }
    this.emit('ca', serial)
    if (!record) this.#revokeDevicesOf(serial, `CA ${serial} deleted`)
    else if (record.status === 'inactive' && old?.status !== 'inactive') this.#revokeDevicesOf(serial, `CA ${serial} deactivated`)
  }

  /**
   * Takes a device as another node has it after a change (undefined: deleted there). A node that names no
   * CA (an older version) deletes the device with that serial under every CA.
   */
  async mirrorDevice (serial: string, record: DeviceRecord | undefined, caSerial?: string): Promise<void> {
    if (!record) {
      for (const old of this.devices({ serial, ca_serial: caSerial })) await this.#removeDevice(old)
      return
    }
    const old = this.#record(record.ca_serial, record.serial)
    await this.#putDevice(record)
    if (record.status === 'inactive' && old?.status !== 'inactive') this.emit('revoke', [record], `device certificate ${serial} of CA ${record.ca_serial} deactivated`)
  }

  /**
   * The registry's verdict on a verified client certificate: null admits it (registering it on its first
   * connection, or noting when it was last seen). `leaf` is the same certificate as the TLS socket parsed it.
   */
  async admit (cert: PeerCertificate, leaf: X509Certificate | undefined): Promise<RegistryRefusal | null> {
    const ca = this.#issuerOf(leaf ?? new X509Certificate(cert.der))
    if (!ca) return { reason: 'ca_not_registered', detail: `the client certificate's CA (${cert.issuer}) is not registered in the device registry (/api/v5/ca_certs)` }
    if (ca.status !== 'active') return { reason: 'ca_inactive', detail: `the client certificate's CA ${ca.serial} (${ca.subject}) is deactivated in the device registry` }
    const now = new Date().toISOString()
    const known = this.#record(ca.serial, cert.serial)
    if (!known) {
      const device: DeviceRecord = {
        serial: cert.serial,
        subject: cert.subject,
        cn: cert.cn,
        ca_serial: ca.serial,
        not_after: iso(cert.notAfter),
        fingerprint: cert.fingerprint,
        status: 'active',
        first_seen: now,
        last_seen: now,
      }
      await this.#putDevice(device)
      this.emit('registered', device)
      return null
    }
    // Serials are unique within a CA (seed 001): another certificate of that CA with a registered serial is refused.
    if (known.fingerprint !== cert.fingerprint) {
      return { reason: 'bad_peer_cert', detail: `serial ${cert.serial} of CA ${ca.serial} is registered for another device certificate (fingerprint ${known.fingerprint})` }
    }
    if (known.status !== 'active') return { reason: 'device_inactive', detail: `the device certificate ${cert.serial} (CN ${cert.cn}) of CA ${ca.serial} is deactivated in the device registry` }
    await this.#putDevice({ ...known, last_seen: now })
    return null
  }

  /** The registered CA that issued `leaf`: the anchor the handshake chained it to, else the one that signed it. */
  #issuerOf (leaf: X509Certificate): CaRecord | undefined {
    const issuer = leaf.issuerCertificate
    if (issuer) {
      const byAnchor = this.#cas.get(serialOf(issuer))
      if (byAnchor && byAnchor.fingerprint === issuer.fingerprint256) return byAnchor
    }
    // Node 20 gives servers no issuerCertificate, and the handshake may have chained to a CA from cacertfile.
    for (const [serial, caCert] of this.#caCerts) {
      if (leaf.checkIssued(caCert) && leaf.verify(caCert.publicKey)) return this.#cas.get(serial)
    }
    return undefined
  }

  #revokeDevicesOf (caSerial: string, why: string): void {
    const devices = this.devices({ ca_serial: caSerial })
    if (devices.length > 0) this.emit('revoke', devices, why)
  }

  #mustCa (serial: string): CaRecord {
    const ca = this.ca(serial)
    if (!ca) throw registryError(`no CA certificate with serial ${serial.toUpperCase()} is registered`, 'not_found')
    return ca
  }

  #mustDevice (serial: string, caSerial?: string): DeviceRecord {
    const wanted = serial.toUpperCase()
    if (caSerial !== undefined) {
      const device = this.#record(caSerial.toUpperCase(), wanted)
      if (!device) throw registryError(`no device certificate with serial ${wanted} of CA ${caSerial.toUpperCase()} is registered`, 'not_found')
      return device
    }
    const found = this.devices({ serial: wanted })
    if (found.length === 0) throw registryError(`no device certificate with serial ${wanted} is registered`, 'not_found')
    if (found.length > 1) {
      throw registryError(`device serial ${wanted} is registered under ${found.length} CAs (${found.map((d) => d.ca_serial).join(', ')}): name one with ?ca_serial=`)
    }
    return found[0]!
  }

  /** The device with this serial (under that CA when given): throws not_found, or invalid when several CAs have it and none is named. */
  findDevice (serial: string, caSerial?: string): DeviceRecord {
    return this.#mustDevice(serial, caSerial)
  }
}

export type RegistryErrorKind = 'invalid' | 'exists' | 'not_found'

export class RegistryError extends CulexError {
  readonly kind: RegistryErrorKind
  constructor (message: string, kind: RegistryErrorKind) {
    super('CULEX_ERR_REGISTRY', message)
    this.kind = kind
  }
}

function registryError (message: string, kind: RegistryErrorKind = 'invalid'): RegistryError {
  return new RegistryError(message, kind)
}
