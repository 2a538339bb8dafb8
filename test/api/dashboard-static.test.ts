// The browser dashboard's files at `/`, beside the API: security headers, index.html for the dashboard's own
// routes, and /status, /api/v5 and /api-docs as before. The built files are looked up beside the module, so a
// copy of dist/ with a dashboard of this test's plays the installed package.
import { cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { freePort, tcpOnlyHocon } from '../helpers.js'
import { spawnNodeOwned } from '../processes.js'
import { ADMIN, call, startApiBroker, tempDir, until } from './api-helpers.js'

const REPO = fileURLToPath(new URL('../../', import.meta.url))

function checkHeaders (t: Test, headers: Headers): void {
  const csp = headers.get('content-security-policy') ?? ''
  t.match(csp, /default-src 'self'/)
  t.match(csp, /script-src 'self'(;|$)/, 'no inline script')
  t.match(csp, /frame-ancestors 'none'/)
  t.equal(headers.get('x-frame-options'), 'DENY')
  t.equal(headers.get('x-content-type-options'), 'nosniff')
  t.equal(headers.get('referrer-policy'), 'no-referrer')
}

t.test('with API keys, the pages need none, and the API answers as before', async (t) => {
  const b = await startApiBroker(t, { keys: [ADMIN] })
  const page = await call(b.base, '/')
  t.ok(page.status === 200 || page.status === 404, 'the page, or the placeholder when the dashboard is not built')
  t.match(page.headers.get('content-type'), /text\/html/)
  checkHeaders(t, page.headers)
  const route = await call(b.base, '/clients/some-client')
  t.equal(route.status, page.status, 'a dashboard route answers as / does')
  t.equal(route.text, page.text)

  const status = await call(b.base, '/status')
  t.equal(status.status, 200)
  t.match(status.text, /is running/)
  t.equal((await call(b.base, '/api-docs/swagger.json')).status, 200)
  const noKey = await call(b.base, '/api/v5/no-such-thing')
  t.equal(noKey.status, 401, 'an unknown API path still asks for credentials first')
  const unknown = await b.call('/api/v5/no-such-thing')
  t.equal(unknown.status, 404)
  t.same(unknown.json, { code: 'NOT_FOUND', message: 'no route GET /api/v5/no-such-thing' })
  t.equal((await b.call('/api-docs/nothing')).json.code, 'NOT_FOUND', '/api-docs stays the API\'s')
  const post = await call(b.base, '/', { method: 'POST', json: {} })
  t.equal(post.status, 401, 'only GET and HEAD are public')
})

t.test('the built dashboard, served from beside the module', async (t) => {
  await mkdir(join(REPO, '.tap'), { recursive: true })
  const copy = await mkdtemp(join(REPO, '.tap', 'dashboard-'))
  t.teardown(() => rm(copy, { recursive: true, force: true }))
  await cp(join(REPO, 'dist'), join(copy, 'dist'), { recursive: true, filter: (src) => !src.startsWith(join(REPO, 'dist', 'dashboard')) })
  const ui = join(copy, 'dist', 'dashboard')
  await mkdir(join(ui, 'assets'), { recursive: true })
  await writeFile(join(ui, 'index.html'), '<!doctype html><title>Culex dashboard</title><script type="module" src="/assets/app.js"></script>\n')
  await writeFile(join(ui, 'assets', 'app.js'), 'console.log("dashboard")\n')
  await cp(join(REPO, 'package.json'), join(copy, 'package.json'))
  await writeFile(join(copy, 'secret.txt'), 'outside the dashboard\n')

  const dataDir = await tempDir(t)
  const [mqtt, api] = [await freePort(), await freePort()]
  const file = join(dataDir, 'culex.hocon')
  await writeFile(file, tcpOnlyHocon(dataDir, mqtt, 'memory', `dashboard.listeners.http.enable = true\ndashboard.listeners.http.bind = "127.0.0.1:${api}"\n`))
  const child = spawnNodeOwned(t, [join(copy, 'dist', 'broker.js'), '-c', file], { cwd: dataDir, stdio: ['ignore', 'ignore', 'inherit'] })
  const base = `http://127.0.0.1:${api}`
  // A bound, not a timing assertion: two busy cores.
  await until(() => {
    if (child.exitCode !== null) throw new Error(`the broker exited with ${child.exitCode}`)
    return call(base, '/status').then((r) => r.status === 200, () => false)
  }, 'the broker answers', 30_000)

  const index = await call(base, '/')
  t.equal(index.status, 200)
  t.match(index.text, /<title>Culex dashboard<\/title>/)
  checkHeaders(t, index.headers)
  t.equal(index.headers.get('cache-control'), 'no-cache', 'a new build is picked up at once')
  const route = await call(base, '/clients/some-client?page=2')
  t.equal(route.status, 200, 'the dashboard\'s own routes answer index.html')
  t.equal(route.text, index.text)
  const asset = await call(base, '/assets/app.js')
  t.equal(asset.status, 200)
  t.match(asset.headers.get('content-type'), /javascript/)
  t.equal(asset.text, 'console.log("dashboard")\n')
  checkHeaders(t, asset.headers)
  const missing = await call(base, '/assets/missing.js')
  t.equal(missing.status, 404, 'a missing file is no page')
  for (const path of ['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt']) {
    const r = await call(base, path)
    t.notMatch(r.text, /outside the dashboard/, `${path} stays inside the dashboard`)
  }
  t.equal((await call(base, '/api/v5/status')).status, 200)
  t.equal((await call(base, '/api/v5/nothing')).json.code, 'NOT_FOUND')
})
