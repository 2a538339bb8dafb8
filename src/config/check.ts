// `culex check -c FILE` (as `emqx check_config`, `mosquitto -t`): reads and validates a configuration and every
// file it names (TLS certificates and keys, acl.conf, API keys, PSK file, JWT keys, backends' TLS files) and
// every backend template (HTTP url/headers/body, Redis cmd, SQL query placeholders) without starting anything;
// lists the keys it sets that Culex accepts without effect. It does not wait on backends being reachable.
import { loadApiKeys } from '../api/auth.js'
import { Authorizer } from '../auth/authz.js'
import { createAuthenticator } from '../auth/chain.js'
import { devCertificateDir } from '../certs/dev.js'
import { PskTable } from '../listeners/psk.js'
import { loadBanCsv } from '../mqtt/banned-csv.js'
import { readTlsFiles, tlsServerOptions } from '../listeners/tls-context.js'
import { warningSink } from '../log.js'
import { loadConfig, type LoadedConfig } from './load.js'
import { keysWithoutEffect } from './notices.js'
import type { AuthenticatorConfig, CulexConfig } from './schema.js'

export interface CheckResult {
  /** What stops start-up, one line each (file:line:column where known). */
  errors: string[]
  /** Keys set in the file that have no effect in Culex, with why. */
  notices: string[]
}

export async function checkConfigFile (file: string, env: Record<string, string | undefined>): Promise<CheckResult> {
  let loaded: LoadedConfig
  try {
    loaded = loadConfig({ file, env })
  } catch (err) {
    return { errors: (err as Error).message.split('\n'), notices: [] }
  }
  const config = loaded.config
  const errors: string[] = []
  const notices: string[] = []
  const attempt = async (check: () => unknown) => {
    try { await check() } catch (err) { errors.push((err as Error).message) }
  }
  for (const type of ['ssl', 'wss'] as const) {
    for (const [name, listener] of Object.entries(config.listeners[type])) {
      if (!listener.enable || listener.ssl_options.managed_certs.length > 0) continue
      const id = `${type}:${name}`
      const dev = devCertificateDir(listener.ssl_options)
      if (dev !== undefined) {
        notices.push(`listener ${id}: ${listener.ssl_options.certfile} does not exist yet: culex start creates development certificates in ${dev} (npx culex certs init)`)
        continue
      }
      const registry = 'device_registry' in listener.ssl_options && listener.ssl_options.device_registry
      await attempt(() => tlsServerOptions(listener.ssl_options, readTlsFiles(listener.ssl_options, id, registry), id))
    }
  }
  // Warnings a source or an authenticator logs when made (placeholders sent as written) are notices here.
  const log = warningSink((message) => notices.push(message))
  await attempt(() => new Authorizer(config.authorization, log).close())
  if (config.dashboard.listeners.http.enable) await attempt(() => loadApiKeys(config.api_key.bootstrap_file))
  await attempt(() => PskTable.load(config.psk_authentication))
  const banFile = config.banned.bootstrap_file
  if (banFile) {
    await attempt(async () => {
      for (const { line, why } of (await loadBanCsv(banFile)).skipped) notices.push(`banned.bootstrap_file ${banFile}:${line}: row skipped at start: ${why}`)
    })
  }
  for (const authenticator of fileFreeAuthenticators(config)) {
    await attempt(() => createAuthenticator(authenticator, { log, dataDir: config.node.data_dir }).close?.())
  }
  return { errors, notices: [...notices, ...keysWithoutEffect(loaded.origins).map((k) => k.line)] }
}

/** Every authenticator but built_in_database and scram, which may read or write their user files: a check must not. */
function fileFreeAuthenticators (config: CulexConfig): AuthenticatorConfig[] {
  const perListener = Object.values(config.listeners).flatMap((byName) =>
    Object.values(byName as Record<string, { authentication?: AuthenticatorConfig[] }>).flatMap((l) => l.authentication ?? []))
  return [...config.authentication, ...perListener].filter((a) => a.enable && a.mechanism !== 'scram' &&
    !(a.mechanism === 'password_based' && a.backend === 'built_in_database'))
}
