// The /api/v5 client: JSON in and out, the session's Bearer token, EMQX's error shape ({code, message}) as ApiError.
// A 401 ends the session and shows the login page.
import { session, signOut } from './session'
import { navigate } from './router'

export class ApiError extends Error {
  readonly status: number
  readonly code: string
  /** The error body's other fields (a certificate upload's `field` and `rule`). */
  readonly details: Record<string, unknown>

  constructor (status: number, code: string, message: string, details: Record<string, unknown> = {}) {
    super(message)
    this.status = status
    this.code = code
    this.details = details
  }
}

export type Query = Record<string, string | number | boolean | undefined | null>

export interface Paged<T> { data: T[], meta: { page: number, limit: number, count?: number, hasnext: boolean } }

export function apiUrl (path: string, query?: Query): string {
  const params = new URLSearchParams()
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined && v !== null && v !== '') params.set(k, String(v))
  const qs = params.toString()
  return `/api/v5${path}${qs ? `?${qs}` : ''}`
}

export async function api<T> (path: string, init: { method?: string, body?: unknown, query?: Query, token?: string } = {}): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' }
  const token = init.token ?? session.get()?.token
  if (token) headers.authorization = `Bearer ${token}`
  if (init.body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(apiUrl(path, init.query), {
    method: init.method ?? 'GET',
    headers,
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
    credentials: 'omit',
  })
  const text = await res.text()
  let json: unknown
  try { json = text ? JSON.parse(text) : undefined } catch { json = undefined }
  if (!res.ok) {
    const body = (json ?? {}) as { code?: unknown, message?: unknown }
    const error = new ApiError(res.status, typeof body.code === 'string' ? body.code : `HTTP_${res.status}`, typeof body.message === 'string' ? body.message : res.statusText, body as Record<string, unknown>)
    if (res.status === 401 && path !== '/login' && session.get()) {
      signOut()
      navigate('login')
    }
    throw error
  }
  return json as T
}

/** A text answer (the Prometheus exposition format). */
export async function apiText (path: string): Promise<string> {
  const token = session.get()?.token
  const res = await fetch(apiUrl(path), { headers: token ? { authorization: `Bearer ${token}` } : {}, credentials: 'omit' })
  if (res.status === 401 && session.get()) { signOut(); navigate('login') }
  if (!res.ok) throw new ApiError(res.status, `HTTP_${res.status}`, res.statusText)
  return res.text()
}

/** A path segment: client ids and topics are hostile text, so always encoded (a topic's '/' included). */
export const seg = (value: string) => encodeURIComponent(value)
