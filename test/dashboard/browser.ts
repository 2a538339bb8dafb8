// The browser-test harness: Debian's Chromium driven by playwright-core (Playwright's own browser download is not
// available here), a fresh profile per test file, a broker with the management API on loopback, and helpers for
// axe-core checks and screenshots. Everything is closed at the test's teardown.
import { mkdtemp, mkdir, readFile, rm } from 'node:fs/promises'
import { createReadStream } from 'node:fs'
import { createServer, request as httpRequest, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { extname, join, normalize } from 'node:path'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { startApiBroker, type ApiBroker } from '../api/api-helpers.js'

type Teardown = { teardown: (fn: () => unknown) => void }

export const CHROMIUM = '/usr/bin/chromium'
const REPO = fileURLToPath(new URL('../..', import.meta.url))
export const DASHBOARD_DIR = join(REPO, 'dist', 'dashboard')

const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync']

/** A Chromium context with its own temporary profile (removed after), English unless `locale` says otherwise. */
export async function launchBrowser (t: Teardown, opts: { locale?: string } = {}): Promise<BrowserContext> {
  const profile = await mkdtemp(join(tmpdir(), 'culex-chromium-'))
  t.teardown(() => rm(profile, { recursive: true, force: true }))
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    locale: opts.locale ?? 'en-US',
    viewport: { width: 1280, height: 900 },
  })
  t.teardown(() => context.close())
  context.setDefaultTimeout(15_000)
  return context
}

export interface DashboardBroker extends ApiBroker {
  /** Where the browser opens the dashboard. */
  url: string
}

const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' }

/**
 * The built dashboard and the broker's /api/v5 behind one loopback origin, as the management listener serves
 * them: files from dist/dashboard, /api/ passed on to the broker unchanged (Host and Origin included).
 */
async function sameOrigin (t: Teardown, apiPort: number): Promise<string> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!
    if (path.startsWith('/api/')) {
      const upstream = httpRequest({ host: '127.0.0.1', port: apiPort, method: req.method, path: req.url, headers: req.headers }, (reply) => {
        res.writeHead(reply.statusCode ?? 502, reply.headers)
        reply.pipe(res)
      })
      upstream.on('error', () => { res.writeHead(502).end() })
      req.pipe(upstream)
      return
    }
    const file = normalize(join(DASHBOARD_DIR, path === '/' ? 'index.html' : decodeURIComponent(path)))
    if (!file.startsWith(DASHBOARD_DIR)) return void res.writeHead(403).end()
    const stream = createReadStream(file)
    stream.once('open', () => {
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'content-security-policy': "default-src 'self'" })
      stream.pipe(res)
    })
    stream.once('error', () => { res.writeHead(404).end() })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return `http://127.0.0.1:${(server.address() as { port: number }).port}/`
}

/** A broker (its own data directory) with the management API and the dashboard on one loopback origin. */
export async function startDashboardBroker (t: Teardown, config: Record<string, unknown> = {}): Promise<DashboardBroker> {
  const b = await startApiBroker(t, { config })
  return { ...b, url: await sameOrigin(t, b.broker.apiPort()) }
}

/**
 * A dashboard user of `role` made through the API (keyless on loopback: an administrator's call) and signed in:
 * its real Bearer token, as the login page would get it.
 */
export async function dashboardToken (b: DashboardBroker, role: 'administrator' | 'viewer'): Promise<{ token: string, username: string }> {
  const username = `test_${role}`
  const password = 'Dashboard-pass-1'
  const made = await b.call('/api/v5/users', { method: 'POST', json: { username, password, role } })
  if (made.status !== 200 && !/exist/i.test(made.text)) throw new Error(`dashboard user ${username}: ${made.status} ${made.text}`)
  const login = await b.call('/api/v5/login', { method: 'POST', json: { username, password } })
  if (login.status !== 200) throw new Error(`login ${username}: ${login.status} ${login.text}`)
  return { token: login.json.token as string, username }
}

/** Opens the dashboard signed in as a user of `role` (a real login) at `route` (#/clients). */
export async function openSignedIn (context: BrowserContext, b: DashboardBroker, route = 'overview', role: 'administrator' | 'viewer' = 'administrator'): Promise<Page> {
  const { token, username } = await dashboardToken(b, role)
  const session = JSON.stringify(JSON.stringify({ token, username, role }))
  await context.addInitScript({ content: `if (!sessionStorage.getItem('culex.session')) sessionStorage.setItem('culex.session', ${session})` })
  const page = await context.newPage()
  await page.goto(`${b.url}#/${route}`)
  return page
}

const require = createRequire(import.meta.url)
let axeSource: string | undefined

/** axe-core's serious and critical violations on the page as it is now (id: the elements concerned). */
export async function axeViolations (page: Page): Promise<string[]> {
  axeSource ??= await readFile(require.resolve('axe-core/axe.min.js'), 'utf8')
  // evaluate, not a <script>: the page's CSP (default-src 'self') refuses injected scripts.
  await page.evaluate(axeSource)
  // A string: it runs in the page, where the test's (Node) types do not apply.
  return page.evaluate<string[]>(`axe.run(document).then((result) => result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => v.id + ': ' + v.nodes.map((n) => n.target.join(' ')).join(', ')))`)
}

/** Saves a screenshot: to docs/dashboard/ with CULEX_SCREENSHOTS=1 (to commit), else to a temporary directory. */
export async function screenshot (t: Teardown, page: Page, name: string): Promise<string> {
  let dir: string
  if (process.env.CULEX_SCREENSHOTS === '1') {
    dir = join(REPO, 'docs', 'dashboard')
    await mkdir(dir, { recursive: true })
  } else {
    dir = await mkdtemp(join(tmpdir(), 'culex-shots-'))
    t.teardown(() => rm(dir, { recursive: true, force: true }))
  }
  const file = join(dir, `${name}.png`)
  await page.screenshot({ path: file })
  return file
}
