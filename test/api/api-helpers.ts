// Shared by the management API tests: a broker with the API on an OS-chosen loopback port, and fetch
// calls that send basic auth and decode JSON.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startBroker, type TestBroker } from '../helpers.js'

type Teardown = { teardown: (fn: () => unknown) => void }

export interface ApiBroker extends TestBroker {
  base: string
  dataDir: string
  /** fetch against the API; `auth` is `key:secret` (the first key of the file unless given, '' for none). */
  call (path: string, init?: CallInit): Promise<Reply>
}

export interface CallInit { method?: string, json?: unknown, body?: FormData | string, headers?: Record<string, string>, auth?: string }
export interface Reply { status: number, headers: Headers, text: string, json: any } // eslint-disable-line @typescript-eslint/no-explicit-any

export const ADMIN = 'admin-key:admin-secret'

/** A temporary directory removed at teardown. */
export async function tempDir (t: Teardown, prefix = 'culex-api-'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** `Basic base64(key:secret)` */
export const basic = (credentials: string) => `Basic ${Buffer.from(credentials).toString('base64')}`

/**
 * A broker (startBroker: tcp and ws on 127.0.0.1:0) with the management API on 127.0.0.1:0, node.data_dir in a
 * temporary directory, and the API keys given as bootstrap-file lines (none: no file). Closed at teardown.
 */
export async function startApiBroker (t: Teardown, opts: { keys?: string[], config?: Record<string, unknown> } = {}): Promise<ApiBroker> {
  const dataDir = await tempDir(t)
  let bootstrap = ''
  if (opts.keys) {
    bootstrap = join(dataDir, 'api_keys.txt')
    await writeFile(bootstrap, opts.keys.join('\n') + '\n')
  }
  const b = await startBroker({
    node: { data_dir: dataDir },
    dashboard: { listeners: { http: { bind: '127.0.0.1:0' } } },
    api_key: { bootstrap_file: bootstrap },
    ...opts.config,
  })
  t.teardown(() => b.close())
  const base = `http://127.0.0.1:${b.broker.apiPort()}`
  const defaultAuth = opts.keys?.find((l) => l.includes(':') && !l.startsWith('#'))?.split(':').slice(0, 2).join(':') ?? ''
  return { ...b, base, dataDir, call: (path, init = {}) => call(base, path, { auth: defaultAuth, ...init }) }
}

export async function call (base: string, path: string, init: CallInit = {}): Promise<Reply> {
  const headers: Record<string, string> = { ...init.headers }
  if (init.auth) headers.authorization = basic(init.auth)
  let body: FormData | string | undefined = init.body
  if (init.json !== undefined) {
    body = JSON.stringify(init.json)
    headers['content-type'] = 'application/json'
  }
  const res = await fetch(base + path, { method: init.method ?? 'GET', headers, body, signal: AbortSignal.timeout(5000) })
  const text = await res.text()
  let json: unknown
  try { json = text ? JSON.parse(text) : undefined } catch { json = undefined }
  return { status: res.status, headers: res.headers, text, json }
}

export { until } from '../helpers.js'
