// GET /api/v5/prometheus/stats (EMQX's path): the Prometheus text format from a prom-client Registry of
// this broker's own (several brokers may share a process). Every figure is read when scraped: counters
// from core.metrics and the authenticator chain, gauges from the sessions and listeners. Figures EMQX
// also has keep its names (emqx_*, what EMQX Grafana dashboards query); the others are culex_*.
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { FastifyPluginAsync } from 'fastify'
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import { certificateBlocks, oneLineName } from '../certs/pem.js'
import { refOf } from '../certs/store.js'
import type { BusTraffic } from '../cluster/peer-bus.js'
import type { SslOptions } from '../config/schema.js'
import { reasonName } from '../mqtt/reason-codes.js'
import { parseShared } from '../mqtt/topic.js'
import type { ApiHost } from './common.js'

export const PROMETHEUS_PATH = '/api/v5/prometheus/stats'

type Labels = Record<string, string | number>

/** What one walk over the sessions and connections finds, taken once per scrape. */
interface Scan {
  sharedSubscriptions: number
  subscribers: number
  topics: number
  queued: number
  inflight: number
  awaitingRel: number
  /** `listener\0proto_ver` → connected clients */
  connections: Map<string, number>
}

function scan (host: ApiHost): Scan {
  const core = host.core
  const s: Scan = { sharedSubscriptions: 0, subscribers: 0, topics: 0, queued: 0, inflight: 0, awaitingRel: 0, connections: new Map() }
  const topics = new Set<string>()
  for (const session of core.sessions.values()) {
    s.queued += session.queueLength
    s.inflight += session.inflight.size
    s.awaitingRel += session.awaitingRel.size
    if (session.subscriptions.size > 0) s.subscribers++
    for (const filter of session.subscriptions.keys()) {
      const shared = parseShared(filter)
      if (shared) s.sharedSubscriptions++
      topics.add(shared ? shared.filter : filter)
    }
  }
  s.topics = topics.size
  for (const conn of core.clients.values()) {
    const key = `${conn.listener.id}\0${conn.protocolVersion}`
    s.connections.set(key, (s.connections.get(key) ?? 0) + 1)
  }
  return s
}

// nodejs_* and process_* describe the process, not a broker: collected once (their event-loop monitor
// and GC observer live as long as the process) and shared by every broker's registry.
let processRegistry: Registry | undefined

function processMetrics (): Registry {
  if (!processRegistry) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry })
  }
  return processRegistry
}

/** The broker's registry: its metrics and the process ones. */
export function brokerRegistry (host: ApiHost, current: () => Scan): Registry {
  const registry = new Registry()
  const registers = [registry]
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers, collect () { this.set(read()) } })
  const counter = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers, collect () { this.reset(); this.inc(read()) } })
  const labeledGauge = (name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]> | Promise<Iterable<[Labels, number]>>) =>
    new Gauge({ name, help, labelNames, registers, async collect () { const samples = await read(); this.reset(); for (const [l, v] of samples) this.set(l, v) } })
  const labeledCounter = (name: string, help: string, labelNames: string[], read: () => Iterable<[Labels, number]>) =>
    new Counter({ name, help, labelNames, registers, collect () { this.reset(); for (const [l, v] of read()) this.inc(l, v) } })
  const core = host.core
  const m = core.metrics

  // ---- EMQX's stats (gauges) and metrics (counters, EMQX's names without _total) ----
  gauge('emqx_connections_count', 'Connected clients', () => core.clients.size)
  gauge('emqx_connections_max', 'Most connections open at once since start', () => m.connectionsMax)
  gauge('emqx_live_connections_count', 'Connected clients (EMQX: not counting those in hibernation)', () => core.clients.size)
  gauge('emqx_sessions_count', 'Sessions, connected or not', () => core.sessions.size)
  gauge('emqx_subscriptions_count', 'Subscriptions, shared ones included', () => core.tree.size)
  gauge('emqx_subscriptions_shared_count', 'Shared subscriptions', () => current().sharedSubscriptions)
  gauge('emqx_subscribers_count', 'Sessions with at least one subscription', () => current().subscribers)
  gauge('emqx_topics_count', 'Distinct topic filters subscribed to', () => current().topics)
  gauge('emqx_retained_count', 'Retained messages stored', () => core.retained.size)
  gauge('emqx_delayed_count', 'Delayed messages ($delayed/...) held', () => core.delayed.size)
  gauge('emqx_delayed_max', 'Most delayed messages held at once since start', () => core.delayed.max)
  counter('emqx_bytes_received', 'Bytes read from clients', () => m.bytesReceived)
  counter('emqx_bytes_sent', 'Bytes written to clients', () => m.bytesSent)
  counter('emqx_packets_received', 'MQTT packets received', () => m.packetsReceived)
  counter('emqx_packets_sent', 'MQTT packets sent', () => m.packetsSent)
  counter('emqx_messages_received', 'PUBLISH messages received from clients', () => m.messagesReceived)
  counter('emqx_messages_sent', 'PUBLISH messages sent to clients', () => m.messagesSent)
  counter('emqx_messages_dropped', 'Messages dropped (full queue, expired, too large, slow consumer, refused)', () => m.messagesDropped)
  for (const qos of [0, 1, 2]) {
    counter(`emqx_messages_qos${qos}_received`, `QoS ${qos} PUBLISH messages received`, () => m.messagesReceivedQos[qos]!)
    counter(`emqx_messages_qos${qos}_sent`, `QoS ${qos} PUBLISH messages sent`, () => m.messagesSentQos[qos]!)
  }
  counter('emqx_authentication_success', 'Clients an authenticator accepted', () => sum(host.authn?.successes.values() ?? []))
  counter('emqx_authentication_failure', 'CONNECTs refused by authentication', () => m.authFailures)

  // ---- Culex's own ----
  labeledGauge('culex_connections', 'Connected clients by listener and MQTT protocol level (3: 3.1, 4: 3.1.1, 5: 5.0)', ['listener', 'proto_ver'], () =>
    [...current().connections].map(([key, n]) => {
      const [listener, protoVer] = key.split('\0')
      return [{ listener: listener!, proto_ver: protoVer! }, n]
    }))
  gauge('culex_session_queued_messages', 'Messages waiting in session queues (all sessions)', () => current().queued)
  gauge('culex_session_inflight_messages', 'QoS 1/2 messages sent and not yet acknowledged (all sessions)', () => current().inflight)
  gauge('culex_session_awaiting_rel_messages', 'Incoming QoS 2 messages awaiting PUBREL (all sessions)', () => current().awaitingRel)
  counter('culex_connections_refused_total', 'CONNECTs refused (banned, bad identifier, authentication, listener full, ...)', () => m.connectionsRefused)
  counter('culex_protocol_errors_total', 'Connections closed for a malformed packet or protocol error', () => m.protocolErrors)
  counter('culex_wills_not_authorized_total', 'Will messages dropped: their client was not authorized to publish them', () => m.willsNotAuthorized)
  counter('culex_delivery_errors_total', 'Deliveries to one subscriber that failed with an error (the other subscribers served)', () => m.deliveryErrors)
  counter('culex_store_errors_total', 'Data store reads and writes that failed (logged; the broker went on without them)', () => m.storeErrors)
  labeledCounter('culex_limits_total', 'What the overload limits did: connections delayed or refused, clients throttled, slow-consumer drops and disconnects', ['limit'], () =>
    Object.entries(m.limits).map(([limit, n]) => [{ limit }, n]))
  labeledCounter('culex_tls_handshakes_total', 'TLS handshakes completed', ['listener'], () =>
    Object.entries(m.tlsHandshakesByListener).map(([listener, n]) => [{ listener }, n]))
  labeledCounter('culex_tls_handshake_failures_total', 'TLS handshakes failed, by reason (src/listeners/tls-errors.ts)', ['listener', 'reason'], () =>
    Object.entries(m.tlsFailuresByListener).flatMap(([listener, byReason]) =>
      Object.entries(byReason).map(([reason, n]): [Labels, number] => [{ listener, reason }, n])))
  labeledCounter('culex_proxy_protocol_failures_total', 'Connections closed without a valid PROXY protocol header (proxy_protocol = true), by reason: timeout, not_proxy, malformed, unsupported, too_long, bad_crc, closed', ['listener', 'reason'], () =>
    Object.entries(m.proxyProtocolFailures).flatMap(([listener, byReason]) =>
      Object.entries(byReason).map(([reason, n]): [Labels, number] => [{ listener, reason }, n])))
  labeledCounter('culex_authn_success_total', 'Clients accepted, by authenticator', ['authenticator'], () =>
    [...host.authn?.successes ?? []].map(([authenticator, n]) => [{ authenticator }, n]))
  labeledCounter('culex_authn_failure_total', 'Clients refused, by authenticator (quick_deny_anonymous, chain: none accepted) and CONNACK reason', ['authenticator', 'reason'], () =>
    [...host.authn?.failures ?? []].flatMap(([authenticator, byCode]) =>
      [...byCode].map(([rc, n]): [Labels, number] => [{ authenticator, reason: reasonName(rc) }, n])))
  labeledCounter('culex_authn_total', 'Answers of each authenticator: allow, deny, ignore (it does not know the client) and error (its backend failed or timed out; the client was passed to the next authenticator)', ['authenticator', 'result'], () =>
    [...host.authn?.results ?? []].flatMap(([authenticator, counts]) =>
      Object.entries(counts).map(([result, n]): [Labels, number] => [{ authenticator, result }, n])))
  labeledCounter('culex_authz_total', 'Authorization answers at PUBLISH and SUBSCRIBE, by source (a source type, token_acl, superuser, no_match, cache) and result (allow, deny, nomatch, error: the source failed and was passed over)', ['source', 'result'], () =>
    [...host.authz?.counts ?? []].flatMap(([source, counts]) =>
      Object.entries(counts).filter(([, n]) => n > 0).map(([result, n]): [Labels, number] => [{ source, result }, n])))
  const traffic = host.cluster?.bus.traffic?.bind(host.cluster.bus)
  if (traffic) {
    // The primary answers the relayed figure: unanswered (it is stopping), the counters keep their last values.
    const busCounter = (name: string, help: string, pick: (t: BusTraffic) => number) =>
      new Counter({ name, help, registers, async collect () { const t = await traffic().catch(() => null); if (t) { this.reset(); this.inc(pick(t)) } } })
    busCounter('culex_workers_direct_bytes_total', 'node.workers: bus payload bytes this worker wrote straight to other workers (direct connections)', (t) => t.direct)
    busCounter('culex_workers_relayed_bytes_total', 'node.workers: bus payload bytes the primary process relayed between workers, all workers together (to a worker the sender has no direct connection to yet)', (t) => t.relayed)
  }
  labeledGauge('culex_cert_expiry_seconds', 'Seconds until notAfter of each certificate a running TLS listener serves (negative: expired)',
    ['listener', 'file', 'bundle', 'subject'], () => certExpiry(host))

  return Registry.merge([registry, processMetrics()])
}

function sum (values: Iterable<number>): number {
  let total = 0
  for (const n of values) total += n
  return total
}

/** The certfile, or each managed bundle's chain.pem, of every running ssl and wss listener, read now. */
async function certExpiry (host: ApiHost): Promise<[Labels, number][]> {
  const samples: [Labels, number][] = []
  const now = Date.now()
  const add = (listener: string, source: { file: string, bundle: string }, pem: string) => {
    for (const block of certificateBlocks(pem)) {
      try {
        const cert = new X509Certificate(block)
        samples.push([{ listener, ...source, subject: oneLineName(cert.subject) }, (Date.parse(cert.validTo) - now) / 1000])
      } catch { /* not a certificate Node can read: the listener could not have loaded it either */ }
    }
  }
  for (const listener of host.listeners) {
    if (!listener.running || (listener.type !== 'ssl' && listener.type !== 'wss')) continue
    const byName = host.config.listeners[listener.type] as Record<string, { ssl_options: SslOptions }>
    const opts = byName[listener.name]?.ssl_options
    if (!opts) continue
    if (opts.managed_certs.length === 0) {
      const file = resolve(opts.certfile)
      // Unreadable: no sample for it (the listener reports its files when it loads them; a scrape every few seconds would repeat it).
      const pem = await readFile(file, 'utf8').catch(() => '')
      add(listener.id, { file, bundle: '' }, pem)
      continue
    }
    for (const entry of opts.managed_certs) {
      const ref = refOf(entry)
      // As for files above: an unreadable bundle gives no sample.
      const chain = (await host.certStore.read(ref).catch(() => undefined))?.chain ?? ''
      add(listener.id, { file: '', bundle: `${ref.namespace ?? 'global'}/${ref.name}` }, chain)
    }
  }
  return samples
}

/**
 * The text GET /api/v5/prometheus/stats serves (and the push gateway pushes): `read` walks the sessions once
 * per call, shared by the gauges that need it.
 */
export function prometheusText (host: ApiHost): { read (): Promise<string>, readonly contentType: string } {
  let last: Scan | null = null
  // Made at the first read: the process metrics' event-loop monitor wakes the process every 10 ms, which a
  // broker nobody scrapes need not pay for.
  let registry: Registry | null = null
  return {
    contentType: Registry.PROMETHEUS_CONTENT_TYPE,
    read: () => {
      last = null
      registry ??= brokerRegistry(host, () => (last ??= scan(host)))
      return registry.metrics()
    },
  }
}

export const prometheusRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const stats = prometheusText(host)
  // Public as in EMQX unless prometheus.enable_basic_auth (false by default): read-only figures, no secrets.
  const open = !host.config.prometheus.enable_basic_auth
  app.get(PROMETHEUS_PATH, {
    config: { public: open },
    schema: {
      tags: ['Metrics'],
      summary: 'Prometheus metrics (text exposition format): EMQX\'s emqx_* names, culex_* ones, nodejs_* and process_*',
      ...(open ? { security: [] } : {}),
      produces: ['text/plain'],
      response: { 200: { description: 'Prometheus text format 0.0.4', type: 'string' } },
    },
  }, async (_request, reply) => {
    const text = await stats.read()
    return reply.type(stats.contentType).send(text)
  })
}
