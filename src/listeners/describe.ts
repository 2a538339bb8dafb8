// The start-up line of a listener, as an operator reads it: `listener ssl:default on 0.0.0.0:8883 (TLS 1.2-1.3, verify_peer, fail_if_no_peer_cert)`.
import type { SslOptions, SslListenerConfig, TcpListenerConfig, WsListenerConfig, WssListenerConfig } from '../config/schema.js'

type AnyListener = TcpListenerConfig | SslListenerConfig | WsListenerConfig | WssListenerConfig

const VERSION_NAMES: Record<string, string> = { tlsv1: '1.0', 'tlsv1.1': '1.1', 'tlsv1.2': '1.2', 'tlsv1.3': '1.3' }

export function describeListener (id: string, address: { host: string, port: number }, config: AnyListener): string {
  const details: string[] = []
  if ('ssl_options' in config) details.push(...tlsDetails(config.ssl_options))
  if ('websocket' in config) details.push(`path ${config.websocket.mqtt_path}`)
  if (config.mountpoint) details.push(`mountpoint ${config.mountpoint}`)
  if (config.proxy_protocol) details.push('PROXY protocol')
  return `listener ${id} on ${address.host}:${address.port}${details.length > 0 ? ` (${details.join(', ')})` : ''}`
}

function tlsDetails (ssl: SslOptions & { device_registry?: boolean }): string[] {
  const versions = ssl.versions.map((v) => VERSION_NAMES[v]!).sort()
  const range = versions.length === 1 ? versions[0]! : `${versions[0]}-${versions[versions.length - 1]}`
  const details = [`TLS ${range}`, ssl.verify]
  if (ssl.verify === 'verify_peer' && ssl.fail_if_no_peer_cert) details.push('fail_if_no_peer_cert')
  if (ssl.device_registry === true) details.push('device registry')
  if (ssl.managed_certs.length > 0) details.push(`managed certificates ${ssl.managed_certs.map((m) => m.bundle_name).join(', ')}`)
  return details
}
