// Development certificates for a fresh checkout: when an enabled TLS listener points at the files
// `culex certs init` writes (DIR/ca.pem, DIR/server.pem, DIR/server.key) and none of them exists yet,
// the start command creates them, so 8883 and 8084 come up with no manual step.
import { existsSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { CulexError } from '../errors.js'
import type { CulexConfig } from '../config/schema.js'
import type { Log } from '../log.js'

/** The directories where the start command will create development certificates. */
export function devCertificateDirs (config: CulexConfig): Set<string> {
  const dirs = new Set<string>()
  for (const listener of [...Object.values(config.listeners.ssl), ...Object.values(config.listeners.wss)]) {
    if (!listener.enable) continue
    const dir = devCertificateDir(listener.ssl_options)
    if (dir !== undefined) dirs.add(dir)
  }
  return dirs
}

/** The directory of these ssl_options' files when they are culex certs init's layout and none exists yet. */
export function devCertificateDir ({ certfile, keyfile, cacertfile }: { certfile: string, keyfile: string, cacertfile: string }): string | undefined {
  const dir = dirname(resolve(certfile))
  const initLayout = resolve(certfile) === resolve(dir, 'server.pem') && resolve(keyfile) === resolve(dir, 'server.key') &&
    resolve(cacertfile) === resolve(dir, 'ca.pem')
  return initLayout && ![certfile, keyfile, cacertfile].some((f) => existsSync(f)) ? dir : undefined
}

export async function ensureDevCertificates (config: CulexConfig, log: Log): Promise<void> {
  const dirs = devCertificateDirs(config)
  if (dirs.size === 0) return
  // Loaded only when certificates must be made: the X.509 library costs start-up time.
  const { runCertsCli } = await import('./cli.js')
  for (const dir of dirs) {
    const output: string[] = []
    const code = await runCertsCli(['init', '--dir', dir], { out: (t) => output.push(t), err: (t) => output.push(t) })
    if (code !== 0) throw new CulexError('CULEX_ERR_CERT_ISSUE', `could not create development certificates in ${dir}: ${output.join('').trim()}`)
    log.warning({ dir }, 'created development certificates (culex certs init): a self-signed CA, a server certificate for localhost, 127.0.0.1 and ::1, and a client certificate. Replace them for production.')
  }
}
