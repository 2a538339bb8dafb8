// /api/v5/ca_certs and /api/v5/device_certs: the device-certificate registry of seed 001. CAs are
// registered by PEM; devices appear on their first connection through a listener with
// ssl_options.device_registry = true. Either is queried by serial, activated, deactivated or deleted.
// Device serials are unique only within a CA: when two registered CAs have a device with the same serial,
// ?ca_serial= names the one meant (without it such a serial is a 400 that lists the CAs).
import type { FastifyPluginAsync } from 'fastify'
import { CERT_STATUSES, RegistryError, type CertStatus } from '../certs/registry.js'
import { CulexError } from '../errors.js'
import { errors, NO_CONTENT, pageMeta, pageQuery, paginate, type ApiHost } from './common.js'

const status = { type: 'string', enum: CERT_STATUSES } as const

const caSchema = {
  type: 'object',
  properties: {
    serial: { type: 'string', description: 'Upper-case hex, as `openssl x509 -serial` prints it' },
    subject: { type: 'string' },
    cn: { type: 'string' },
    not_before: { type: 'string' },
    not_after: { type: 'string' },
    fingerprint: { type: 'string', description: 'SHA-256' },
    status,
    registered_at: { type: 'string' },
    pem: { type: 'string' },
  },
} as const

const deviceSchema = {
  type: 'object',
  properties: {
    serial: { type: 'string' },
    subject: { type: 'string' },
    cn: { type: 'string' },
    ca_serial: { type: 'string', description: 'Serial of the registered CA that issued it' },
    not_after: { type: 'string' },
    fingerprint: { type: 'string' },
    status,
    first_seen: { type: 'string' },
    last_seen: { type: 'string' },
  },
} as const

const serialParams = { type: 'object', properties: { serial: { type: 'string', pattern: '^[0-9A-Fa-f]{1,64}$' } }, required: ['serial'] } as const
const caQuery = {
  type: 'object',
  properties: { ca_serial: { type: 'string', pattern: '^[0-9A-Fa-f]{1,64}$', description: 'The device\'s CA: needed when devices of several CAs share the serial' } },
} as const
const statusBody = { type: 'object', required: ['status'], properties: { status } } as const

interface SerialParams { serial: string }
interface CaQuery { ca_serial?: string }

/** The registry's refusals are the client's 400 (invalid), 409 (exists) or 404 (not found). */
async function registry<T> (op: () => Promise<T> | T): Promise<T> {
  try {
    return await op()
  } catch (err) {
    if (!(err instanceof RegistryError)) throw err
    if (err.kind === 'not_found') throw new CulexError('CULEX_ERR_API_NOT_FOUND', err.message, { cause: err })
    if (err.kind === 'exists') throw new CulexError('CULEX_ERR_API_EXISTS', err.message, { cause: err })
    throw new CulexError('CULEX_ERR_API_BAD_REQUEST', err.message, { cause: err })
  }
}

export const deviceCertRoutes: FastifyPluginAsync<{ host: ApiHost }> = async (app, { host }) => {
  const reg = host.registry

  // ---- CA certificates ----

  app.get<{ Querystring: { page: number, limit: number, status?: CertStatus } }>('/api/v5/ca_certs', {
    schema: {
      tags: ['Device certificates'],
      summary: 'Registered CA certificates, paged',
      querystring: { type: 'object', properties: { ...pageQuery, status } },
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: caSchema }, meta: pageMeta } } },
    },
  }, async (request) => {
    const { page, limit, status: wanted } = request.query
    return paginate(reg.cas().filter((ca) => wanted === undefined || ca.status === wanted), page, limit)
  })

  app.post<{ Body: { certificate: string, status?: CertStatus } }>('/api/v5/ca_certs', {
    schema: {
      tags: ['Device certificates'],
      summary: 'Register a CA certificate; the device certificates it signs can then connect and are registered on first connection',
      body: {
        type: 'object',
        required: ['certificate'],
        properties: { certificate: { type: 'string', description: 'The CA certificate, PEM' }, status: { ...status, default: 'active' } },
      },
      response: { 201: caSchema, ...errors(400, 409) },
    },
  }, async (request, reply) => {
    const ca = await registry(() => reg.registerCa(request.body.certificate, request.body.status))
    host.log.notice({ serial: ca.serial, subject: ca.subject, status: ca.status }, 'CA certificate registered through the management API')
    host.cluster?.caChanged(ca.serial)
    return reply.code(201).send(ca)
  })

  app.get<{ Params: SerialParams }>('/api/v5/ca_certs/:serial', {
    schema: { tags: ['Device certificates'], summary: 'One registered CA certificate', params: serialParams, response: { 200: caSchema, ...errors(404) } },
  }, async (request) => {
    const ca = reg.ca(request.params.serial)
    if (!ca) throw new CulexError('CULEX_ERR_API_NOT_FOUND', `no CA certificate with serial ${request.params.serial.toUpperCase()} is registered`)
    return ca
  })

  app.put<{ Params: SerialParams, Body: { status: CertStatus } }>('/api/v5/ca_certs/:serial', {
    schema: {
      tags: ['Device certificates'],
      summary: 'Activate or deactivate a CA certificate; deactivating refuses its devices and disconnects the connected ones',
      params: serialParams,
      body: statusBody,
      response: { 200: caSchema, ...errors(400, 404) },
    },
  }, async (request) => {
    const ca = await registry(() => reg.setCaStatus(request.params.serial, request.body.status))
    host.log.notice({ serial: ca.serial, status: ca.status }, 'CA certificate status changed through the management API')
    host.cluster?.caChanged(ca.serial)
    return ca
  })

  app.delete<{ Params: SerialParams }>('/api/v5/ca_certs/:serial', {
    schema: {
      tags: ['Device certificates'],
      summary: 'Delete a CA certificate; its devices are refused and the connected ones disconnected',
      params: serialParams,
      response: { 204: NO_CONTENT, ...errors(404) },
    },
  }, async (request, reply) => {
    await registry(() => reg.deleteCa(request.params.serial))
    host.log.notice({ serial: request.params.serial.toUpperCase() }, 'CA certificate deleted through the management API')
    host.cluster?.caChanged(request.params.serial)
    return reply.code(204).send()
  })

  // ---- device certificates ----

  app.get<{ Querystring: { page: number, limit: number, ca_serial?: string, status?: CertStatus, like_serial?: string, like_cn?: string } }>('/api/v5/device_certs', {
    schema: {
      tags: ['Device certificates'],
      summary: 'Registered device certificates, paged; ?ca_serial= lists those one CA issued',
      querystring: {
        type: 'object',
        properties: {
          ...pageQuery,
          ca_serial: { type: 'string' },
          status,
          like_serial: { type: 'string', maxLength: 64, description: 'Culex: serials containing this hex text (any case)' },
          like_cn: { type: 'string', maxLength: 256, description: 'Culex: common names containing this text (any case)' },
        },
      },
      response: { 200: { type: 'object', properties: { data: { type: 'array', items: deviceSchema }, meta: pageMeta } } },
    },
  }, async (request) => {
    const { page, limit, ca_serial, status: wanted } = request.query
    const serial = request.query.like_serial?.toUpperCase()
    const cn = request.query.like_cn?.toLowerCase()
    const found = reg.devices({ ca_serial, status: wanted })
      .filter((d) => (!serial || d.serial.includes(serial)) && (!cn || d.cn.toLowerCase().includes(cn)))
    return paginate(found, page, limit)
  })

  app.get<{ Params: SerialParams, Querystring: CaQuery }>('/api/v5/device_certs/:serial', {
    schema: { tags: ['Device certificates'], summary: 'One registered device certificate', params: serialParams, querystring: caQuery, response: { 200: deviceSchema, ...errors(400, 404) } },
  }, async (request) => registry(() => reg.findDevice(request.params.serial, request.query.ca_serial)))

  app.put<{ Params: SerialParams, Querystring: CaQuery, Body: { status: CertStatus } }>('/api/v5/device_certs/:serial', {
    schema: {
      tags: ['Device certificates'],
      summary: 'Activate or deactivate a device certificate; deactivating disconnects its clients and refuses new connections',
      params: serialParams,
      querystring: caQuery,
      body: statusBody,
      response: { 200: deviceSchema, ...errors(400, 404) },
    },
  }, async (request) => {
    const device = await registry(() => reg.setDeviceStatus(request.params.serial, request.body.status, request.query.ca_serial))
    host.log.notice({ serial: device.serial, ca_serial: device.ca_serial, status: device.status }, 'device certificate status changed through the management API')
    host.cluster?.deviceChanged(device.serial, device.ca_serial)
    return device
  })

  app.delete<{ Params: SerialParams, Querystring: CaQuery }>('/api/v5/device_certs/:serial', {
    schema: {
      tags: ['Device certificates'],
      summary: 'Delete a device certificate record; it registers again at its next connection while its CA is active',
      params: serialParams,
      querystring: caQuery,
      response: { 204: NO_CONTENT, ...errors(400, 404) },
    },
  }, async (request, reply) => {
    const device = await registry(() => reg.deleteDevice(request.params.serial, request.query.ca_serial))
    host.log.notice({ serial: device.serial, ca_serial: device.ca_serial }, 'device certificate deleted through the management API')
    host.cluster?.deviceChanged(device.serial, device.ca_serial)
    return reply.code(204).send()
  })
}
