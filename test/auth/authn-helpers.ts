// Shared by the backend authenticator tests: a CONNACK reason code per connection attempt, and an HTTP
// auth service (node:http) whose answer each test sets.
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { createServer as createHttps } from 'node:https'
import type { AddressInfo, Socket } from 'node:net'
import mqtt, { type IClientOptions } from 'mqtt'

type Teardown = { teardown: (fn: () => unknown) => void }

/** Connects an MQTT.js client: 0 when accepted (then ends it), else the CONNACK reason code (-1: no answer). */
export function connack (port: number, opts: IClientOptions = {}): Promise<number> {
  return new Promise((resolve) => {
    const client = mqtt.connect({ host: '127.0.0.1', port, protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000, ...opts })
    let done = false
    const finish = (code: number) => { if (done) return; done = true; client.end(true); resolve(code) }
    client.once('connect', () => finish(0))
    client.once('error', (err) => finish((err as { code?: number }).code ?? -1))
    client.once('close', () => finish(-1))
  })
}

export interface SeenRequest { method: string, url: string, headers: IncomingMessage['headers'], body: string, socket: Socket }

export interface AuthService {
  url: string
  port: number
  seen: SeenRequest[]
  /** The answer to the next requests (status, content type, body); a function decides per request; 'hang' never answers. */
  answer: ((req: SeenRequest) => Answer) | Answer
  server: Server
}

export type Answer = { status: number, type?: string, body?: string } | 'hang'

/** An HTTP (or, with `tls`, HTTPS) auth service on 127.0.0.1, closed at teardown. */
export async function authService (t: Teardown, tls?: { cert: string, key: string, ca: string, requestCert: boolean }): Promise<AuthService> {
  const service: AuthService = { url: '', port: 0, seen: [], answer: { status: 200, type: 'application/json', body: '{"result":"allow"}' }, server: undefined as unknown as Server }
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const seen = { method: req.method!, url: req.url!, headers: req.headers, body: Buffer.concat(chunks).toString(), socket: req.socket }
      service.seen.push(seen)
      const answer = typeof service.answer === 'function' ? service.answer(seen) : service.answer
      if (answer === 'hang') return
      res.writeHead(answer.status, answer.type ? { 'content-type': answer.type } : {}).end(answer.body ?? '')
    })
  }
  const server = tls
    ? createHttps({ cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: tls.requestCert, rejectUnauthorized: tls.requestCert }, handler)
    : createHttp(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  service.server = server
  service.port = (server.address() as AddressInfo).port
  service.url = `${tls ? 'https' : 'http'}://127.0.0.1:${service.port}`
  return service
}

/** A counter's value in Prometheus text (0 when absent). */
export function metric (text: string, name: string, labels: Record<string, string>): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`)
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue
    const inside = line.slice(name.length + 1, line.indexOf('}'))
    if (want.every((w) => inside.split(',').includes(w))) return Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return 0
}
