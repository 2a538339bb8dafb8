// GET /api/v5/certs/bundles (Culex's; EMQX 5.8 has no such endpoint): every managed bundle of every namespace
// with what the dashboard's Certificates page shows of it: which files it has, its leaf certificate (subject,
// SANs, issuer, end), the certificate of the chain that ends first, its CAs, and the listeners that serve it
// with their connected clients. Never the key's content.
import type { FastifyPluginAsync } from 'fastify'
import { inspectPem } from '../certs/index.js'
import { BUNDLE_FILES } from '../certs/store.js'
import type { ApiHost } from './common.js'
import { bundleUsers, certFacts, certFactsSchema, chainFacts, tlsListeners, type CertFacts } from './served-certs.js'

const bundleSchema = {
  type: 'object',
  properties: {
    namespace: { type: 'string', description: 'global for the global namespace' },
    name: { type: 'string' },
    files: { type: 'array', items: { type: 'string', enum: BUNDLE_FILES }, description: 'The files the bundle has' },
    leaf: { ...certFactsSchema, type: ['object', 'null'], description: 'The first certificate of chain; null without a chain' },
    ends_first: { ...certFactsSchema, type: ['object', 'null'] },
    ca: { type: 'array', items: certFactsSchema, description: 'The certificates of ca.pem' },
    used_by: {
      type: 'array',
      description: 'ssl and wss listeners that serve it (enabled or not): the server name that selects it, and the listener\'s state and clients',
      items: {
        type: 'object',
        properties: { listener: { type: 'string' }, sni: { type: ['string', 'null'] }, running: { type: 'boolean' }, connections: { type: 'integer' } },
      },
    },
  },
} as const

function caFacts (pem: string | undefined): CertFacts[] {
  if (pem === undefined) return []
  try {
    return inspectPem(pem).certificates.map(certFacts)
  } catch {
    return []
  }
}

async function bundles (host: ApiHost) {
  const listeners = tlsListeners(host)
  const out = []
  for (const namespace of await host.certStore.namespaces()) {
    for (const name of await host.certStore.list(namespace)) {
      const pem = await host.certStore.read({ namespace, name }).catch(() => undefined) ?? {}
      const facts = pem.chain === undefined ? undefined : chainFacts(pem.chain)
      const used_by = bundleUsers(listeners, { namespace, name }).map((u) => {
        const l = host.listeners.find((x) => x.id === u.listener)
        return { ...u, running: l?.running ?? false, connections: l?.connectionCount ?? 0 }
      })
      out.push({
        namespace: namespace ?? 'global',
        name,
        files: BUNDLE_FILES.filter((f) => pem[f] !== undefined),
        leaf: facts?.leaf ?? null,
        ends_first: facts?.ends_first ?? null,
        ca: caFacts(pem.ca),
        used_by,
      })
    }
  }
  return out
}

export const certsBundlesRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  app.get('/api/v5/certs/bundles', {
    schema: {
      tags: ['Certificates'],
      summary: 'Culex (not in EMQX 5.8): every managed bundle of every namespace with its certificates\' facts and the listeners that serve it',
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: bundleSchema } } } },
    },
  }, async () => ({ data: await bundles(host) }))
}
