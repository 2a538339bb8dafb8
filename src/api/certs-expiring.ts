// GET /api/v5/certs/expiring?days=30 (Culex's; EMQX 5.8 has no such endpoint): the managed bundles and the
// listeners' certfiles with a certificate that ends within that many days or has ended, and who uses each.
import type { FastifyPluginAsync } from 'fastify'
import { errors, type ApiHost } from './common.js'
import { bundleUsers, certFactsSchema, chainFacts, readCertfile, tlsListeners, type BundleUse as Use, type CertFacts } from './served-certs.js'

interface Expiring { kind: 'bundle' | 'certfile', source: string, leaf: CertFacts, ends_first: CertFacts, used_by: Use[] }

const expiringSchema = {
  type: 'object',
  properties: {
    kind: { type: 'string', enum: ['bundle', 'certfile'] },
    source: { type: 'string', description: 'The bundle as namespace/name (global for the global namespace), or the certfile\'s path' },
    leaf: certFactsSchema,
    ends_first: { ...certFactsSchema, description: 'The certificate of the chain that ends first: the one that makes the entry' },
    used_by: {
      type: 'array',
      description: 'ssl and wss listeners that serve it (enabled or not), with the server name that selects a bundle',
      items: { type: 'object', properties: { listener: { type: 'string' }, sni: { type: ['string', 'null'] } } },
    },
  },
} as const

async function expiring (host: ApiHost, days: number): Promise<Expiring[]> {
  const listeners = tlsListeners(host)
  const out: Expiring[] = []
  const add = (kind: Expiring['kind'], source: string, pem: string | Buffer | undefined, used_by: Use[]) => {
    const f = pem === undefined ? undefined : chainFacts(pem)
    if (f && f.ends_first.days_left < days) out.push({ kind, source, ...f, used_by })
  }
  for (const namespace of await host.certStore.namespaces()) {
    for (const name of await host.certStore.list(namespace)) {
      const pem = await host.certStore.read({ namespace, name }).catch(() => undefined)
      add('bundle', `${namespace ?? 'global'}/${name}`, pem?.chain, bundleUsers(listeners, { namespace, name }))
    }
  }
  // certfiles of listeners without managed bundles, each file once.
  const files = new Map<string, Use[]>()
  for (const [id, ssl] of listeners) {
    if (ssl.managed_certs.length > 0) continue
    const uses = files.get(ssl.certfile) ?? []
    uses.push({ listener: id, sni: null })
    files.set(ssl.certfile, uses)
  }
  for (const [path, used] of files) {
    const running = host.listeners.find((l) => l.id === used[0]!.listener)
    const served = running?.running ? running.servedCertificates?.()[0]?.pem : undefined
    add('certfile', path, served ?? await readCertfile(path), used)
  }
  return out.sort((a, b) => a.ends_first.days_left - b.ends_first.days_left)
}

export const certsExpiringRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  app.get<{ Querystring: { days: number } }>('/api/v5/certs/expiring', {
    schema: {
      tags: ['Certificates'],
      summary: 'Culex (not in EMQX 5.8): managed bundles and listener certfiles with a certificate ending within `days` days, or ended, soonest first, with the listeners that serve them',
      querystring: { type: 'object', properties: { days: { type: 'integer', minimum: 0, maximum: 36500, default: 30, description: 'Window in days; 0: only those already ended' } } },
      response: {
        200: { type: 'object', properties: { days: { type: 'integer' }, data: { type: 'array', items: expiringSchema } } },
        ...errors(400),
      },
    },
  }, async (request) => ({ days: request.query.days, data: await expiring(host, request.query.days) }))
}
