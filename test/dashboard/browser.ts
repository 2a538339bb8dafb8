// The browser-test harness: Debian's Chromium driven by playwright-core (Playwright's own browser download is not
// available here), a fresh profile per test file, a broker whose management listener serves the dashboard on
// loopback with two dashboard users, real logins, and helpers for axe-core checks and screenshots. Everything is
// closed at the test's teardown.
import { mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { chromium, type BrowserContext, type Page } from 'playwright-core'
import { call, startApiBroker, type ApiBroker } from '../api/api-helpers.js'

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

/**
 * The dashboard users of a test broker: the default administrator (admin / public, whose password the first
 * login() changes, as a person's first login does), and a viewer from dashboard.bootstrap_users_file.
 */
export const USERS = {
  administrator: { username: 'admin', password: 'Operator-pass-1' },
  viewer: { username: 'watcher', password: 'Watcher-pass-1' },
} as const

/** A broker (its own data directory) whose management listener serves the API and the dashboard, on loopback. */
export async function startDashboardBroker (t: Teardown, config: Record<string, unknown> = {}): Promise<DashboardBroker> {
  const dir = await mkdtemp(join(tmpdir(), 'culex-dash-users-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const users = join(dir, 'users.txt')
  await writeFile(users, `${USERS.viewer.username}:${USERS.viewer.password}:viewer\n`)
  const { dashboard, ...rest } = config as { dashboard?: Record<string, unknown> }
  const b = await startApiBroker(t, { config: { ...rest, dashboard: { listeners: { http: { bind: '127.0.0.1:0' } }, bootstrap_users_file: users, ...dashboard } } })
  return { ...b, url: `${b.base}/` }
}

const adminReady = new WeakSet<DashboardBroker>()

async function postLogin (b: DashboardBroker, username: string, password: string) {
  const reply = await call(b.base, '/api/v5/login', { method: 'POST', json: { username, password } })
  if (reply.status !== 200) throw new Error(`login of ${username}: ${reply.status} ${reply.text}`)
  return reply.json as { token: string, role: string }
}

/** Signs `role`'s user in through POST /api/v5/login; returns what the dashboard keeps of the session. */
export async function login (b: DashboardBroker, role: 'administrator' | 'viewer' = 'administrator'): Promise<{ token: string, username: string, role: string }> {
  const user = USERS[role]
  if (role === 'administrator' && !adminReady.has(b)) {
    const first = await postLogin(b, user.username, 'public')
    const changed = await call(b.base, `/api/v5/users/${user.username}/change_pwd`, {
      method: 'POST', headers: { authorization: `Bearer ${first.token}` }, json: { old_pwd: 'public', new_pwd: user.password },
    })
    if (changed.status !== 204) throw new Error(`change_pwd: ${changed.status} ${changed.text}`)
    adminReady.add(b)
  }
  const { token, role: granted } = await postLogin(b, user.username, user.password)
  return { token, username: user.username, role: granted }
}

/** Opens the dashboard at `route` (#/clients), signed in as `role`'s user with a real token. */
export async function openSignedIn (context: BrowserContext, b: DashboardBroker, route = 'overview', role: 'administrator' | 'viewer' = 'administrator'): Promise<Page> {
  const session = JSON.stringify(JSON.stringify(await login(b, role)))
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
