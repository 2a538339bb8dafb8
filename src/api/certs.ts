// /api/v5/certs (EMQX 6.1's managed certificates): bundles of key.pem, chain.pem and ca.pem in the
// certificate store, global or by namespace. Uploads are JSON or multipart/form-data with the same
// field names; a refused upload answers 400 with the rule it broke. The key's content is never shown.
import multipart from '@fastify/multipart'
import type { FastifyPluginAsync } from 'fastify'
import { BUNDLE_FILES, type BundleFile, type BundleRef, type BundleUpload } from '../certs/store.js'
import { CulexError } from '../errors.js'
import { errors, NO_CONTENT, type ApiHost } from './common.js'

const MAX_PEM_BYTES = 1024 * 1024

const fileInfo = { type: 'object', properties: { path: { type: 'string' } } } as const
const infoSchema = {
  type: 'object',
  description: 'The bundle\'s files (paths only, never the key\'s content)',
  properties: { chain: fileInfo, key: fileInfo, ca: fileInfo },
} as const

const uploadSchema = {
  type: 'object',
  description: 'PEM texts, any subset of key, chain, ca (at least one); as JSON or multipart/form-data fields or files',
  properties: {
    key: { type: 'string', description: 'Private key, PKCS#1, PKCS#8 or SEC1' },
    chain: { type: 'string', description: 'Server certificate first, then its intermediates' },
    ca: { type: 'string', description: 'CAs trusted for client certificates (two-way TLS)' },
    key_password: { type: 'string', description: 'Passphrase of an encrypted key; the key is stored decrypted' },
  },
} as const

interface NameParams { name: string, namespace?: string }
interface DeleteQuery { kind?: BundleFile }
interface UploadQuery { ignore_validity_window?: boolean }

const refOf = (p: NameParams): BundleRef => ({ namespace: p.namespace, name: p.name })

/** The store refuses a bad name or bundle with CULEX_ERR_CERT_INVALID: that is the client's 400. */
async function store<T> (op: () => Promise<T>): Promise<T> {
  try {
    return await op()
  } catch (err) {
    if (err instanceof CulexError && err.code === 'CULEX_ERR_CERT_INVALID') throw new CulexError('CULEX_ERR_API_BAD_REQUEST', err.message, { cause: err, details: err.details })
    throw err
  }
}

export const certRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const certs = host.certStore
  // JSON or multipart only: anything else is 415, not a body that fails the schema.
  app.removeContentTypeParser('text/plain')
  // Multipart files become strings in the body, so both encodings meet the same schema.
  await app.register(multipart, {
    attachFieldsToBody: 'keyValues',
    limits: { fileSize: MAX_PEM_BYTES, fieldSize: MAX_PEM_BYTES, files: 4, fields: 4 },
    async onFile (part) {
      (part as unknown as { value: string }).value = (await part.toBuffer()).toString('utf8')
    },
  })

  const nameParams = { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] }
  const nsParams = { type: 'object', properties: { namespace: { type: 'string' }, name: { type: 'string' } }, required: ['namespace', 'name'] }

  for (const scope of ['global', 'ns'] as const) {
    const base = scope === 'global' ? '/api/v5/certs/global' : '/api/v5/certs/ns/:namespace'
    const where = scope === 'global' ? 'in the global namespace' : 'in a namespace'
    const params = scope === 'global' ? nameParams : nsParams

    app.get<{ Params: { namespace?: string } }>(`${base}/list`, {
      schema: {
        tags: ['Certificates'],
        summary: `Bundles ${where}`,
        ...(scope === 'ns' ? { params: { type: 'object', properties: { namespace: { type: 'string' } }, required: ['namespace'] } } : {}),
        response: { 200: { type: 'array', items: { type: 'object', properties: { name: { type: 'string' } } } }, ...errors(400) },
      },
    }, async (request) => (await store(() => certs.list(request.params.namespace))).map((name) => ({ name })))

    app.get<{ Params: NameParams }>(`${base}/name/:name`, {
      schema: { tags: ['Certificates'], summary: `A bundle's files ${where}`, params, response: { 200: infoSchema, ...errors(400, 404) } },
    }, async (request) => {
      const info = await store(() => certs.info(refOf(request.params)))
      if (!info) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `bundle ${request.params.name} not found`)
      return info
    })

    app.post<{ Params: NameParams, Body: BundleUpload, Querystring: UploadQuery }>(`${base}/name/:name`, {
      schema: {
        tags: ['Certificates'],
        summary: `Create or update a bundle ${where}; checked against the import rules first`,
        consumes: ['application/json', 'multipart/form-data'],
        params,
        querystring: {
          type: 'object',
          properties: { ignore_validity_window: { type: 'boolean', default: false, description: 'Accept a certificate issued or expiring within 30 days (rule validity_window); logged' } },
        },
        body: uploadSchema,
        response: { 204: NO_CONTENT, ...errors(400, 413, 415) },
      },
    }, async (request, reply) => {
      const upload: BundleUpload = {}
      for (const field of [...BUNDLE_FILES, 'key_password'] as const) {
        const value = request.body?.[field]
        // Browsers (and fetch's FormData) send text fields with CRLF line ends: PEM is stored with LF.
        if (value !== undefined) upload[field] = String(value).replaceAll('\r\n', '\n')
      }
      const ref = refOf(request.params)
      const ignoreValidityWindow = request.query.ignore_validity_window === true
      const { warnings } = await store(() => certs.put(ref, upload, { ignoreValidityWindow }))
      host.log.notice({ namespace: ref.namespace ?? 'global', bundle: ref.name, files: BUNDLE_FILES.filter((f) => upload[f]) }, 'certificate bundle uploaded')
      for (const warning of warnings) host.log.warning({ namespace: ref.namespace ?? 'global', bundle: ref.name }, warning)
      await host.cluster?.bundleChanged(ref)
      return reply.code(204).send()
    })

    app.delete<{ Params: NameParams, Querystring: DeleteQuery }>(`${base}/name/:name`, {
      schema: {
        tags: ['Certificates'],
        summary: `Delete a bundle ${where}, or one of its files with ?kind=`,
        params,
        querystring: { type: 'object', properties: { kind: { type: 'string', enum: BUNDLE_FILES } } },
        response: { 204: NO_CONTENT, ...errors(400, 404) },
      },
    }, async (request, reply) => {
      const ref = refOf(request.params)
      const kind = request.query.kind
      if (!await store(() => certs.delete(ref, kind))) {
        throw new CulexError('CULEX_ERR_API_NOT_FOUND', kind ? `bundle ${ref.name} has no ${kind}` : `bundle ${ref.name} not found`)
      }
      host.log.notice({ namespace: ref.namespace ?? 'global', bundle: ref.name, kind }, 'certificate bundle deleted')
      await host.cluster?.bundleChanged(ref)
      return reply.code(204).send()
    })
  }
}
