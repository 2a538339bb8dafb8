// A backend's `ssl { ... }` (EMQX's ssl_client_opts) as Node TLS client options. Files are read once,
// when the backend is made: an unreadable one is a configuration error naming the key.
import type { ConnectionOptions, SecureVersion } from 'node:tls'
import type { ClientSslConfig } from '../../config/schema/backends.js'
import { readTlsFiles } from '../../config/tls-files.js'
import { IANA_TO_OPENSSL } from '../../listeners/tls-ciphers.js'

const NODE_VERSIONS: Record<string, SecureVersion> = { 'tlsv1.3': 'TLSv1.3', 'tlsv1.2': 'TLSv1.2', 'tlsv1.1': 'TLSv1.1', tlsv1: 'TLSv1' }
const ORDER: SecureVersion[] = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3']

/** Node TLS options for a connection to `host`; `where` names the config key in errors (e.g. `authentication.password_based:http.ssl`). */
export function clientTlsOptions (ssl: ClientSslConfig, host: string, where: string): ConnectionOptions {
  const options: ConnectionOptions = { rejectUnauthorized: ssl.verify === 'verify_peer', ...readTlsFiles(ssl, where, 'CULEX_ERR_BACKEND_CONFIG') }
  if (ssl.password) options.passphrase = ssl.password
  const sni = ssl.server_name_indication
  // Node sends no SNI for an IP address anyway; "disable" turns it off for names too.
  if (sni === 'disable') options.servername = ''
  else if (sni) options.servername = sni
  else if (!/^[\d.]+$|:/.test(host)) options.servername = host
  const versions = ssl.versions.map((v) => NODE_VERSIONS[v]!).sort((a, b) => ORDER.indexOf(a) - ORDER.indexOf(b))
  options.minVersion = versions[0]!
  options.maxVersion = versions.at(-1)!
  if (ssl.ciphers.length > 0) options.ciphers = ssl.ciphers.map((c) => IANA_TO_OPENSSL[c] ?? c).join(':')
  return options
}
